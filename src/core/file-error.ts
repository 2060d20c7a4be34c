import { SluiceError } from './errors.ts';

/** Where in a file a problem is. */
export interface FileLocation {
  /** Path of the bad value (`routes[1].priority`), or absent for a syntax or read error. */
  readonly path?: string | null;
  /** 1-based line and column, when known. */
  readonly line?: number | null;
  readonly column?: number | null;
  /** The offending lines with a caret under the problem, when known (for terminals). */
  readonly excerpt?: string | null;
  readonly cause?: unknown;
}

/**
 * A configuration file (a scenario, a proxy config) that cannot be read, parsed or validated. The message
 * reads `sluice: file:line:column: detail`, as compilers print it, so editors and terminals can jump there.
 */
export abstract class FileError extends SluiceError {
  /** The file, as given. */
  readonly file: string;
  /** Path of the bad value in the file's data, or null for a syntax or read error. */
  readonly path: string | null;
  readonly line: number | null;
  readonly column: number | null;
  readonly excerpt: string | null;

  constructor(file: string, detail: string, where: FileLocation = {}) {
    const at = where.line == null ? file : `${file}:${where.line}:${where.column ?? 1}`;
    super(`sluice: ${at}: ${detail}`, where.cause === undefined ? undefined : { cause: where.cause });
    this.file = file;
    this.path = where.path ?? null;
    this.line = where.line ?? null;
    this.column = where.column ?? null;
    this.excerpt = where.excerpt ?? null;
  }
}
