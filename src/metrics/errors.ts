import { isSluiceError, SluiceError } from '../core/errors.ts';

/** An optional peer dependency a feature needs is not installed beside sluice. */
export class PeerDependencyError extends SluiceError {
  readonly code = 'SLUICE_PEER_MISSING';
  override readonly name = 'PeerDependencyError';
  /** The npm package to install. */
  readonly peer: string;

  constructor(peer: string, feature: string, cause: unknown) {
    super(`sluice: ${feature} needs ${peer}; install it beside sluice (npm install ${peer})`, { cause });
    this.peer = peer;
  }
}

export function isPeerDependencyError(error: unknown): error is PeerDependencyError {
  return isSluiceError(error) && error.code === 'SLUICE_PEER_MISSING';
}
