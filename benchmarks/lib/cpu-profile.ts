/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and splits the process's busy time (every sample but idle) by
 * where it was spent: self time of functions in given files or directories (the code under test), of Node's
 * `node:events` (listeners), of the garbage collector, and the rest. The shares come from one process over
 * one run, so what else the machine did at the time moves every share alike: a steadier measure of what a
 * layer costs than requests per second on a shared host.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileShares {
  /** Busy time over the profile (ms): every sample but idle. */
  readonly busyMs: number;
  /** Shares of the busy time, in [0, 1]. */
  readonly code: number;
  readonly events: number;
  readonly gc: number;
  /** The functions of `code` that took the most self time, with their shares. */
  readonly top: readonly { readonly name: string; readonly share: number }[];
}

/**
 * The shares of the one profile in `dir`, with `code` the self time of functions in the files under any of
 * `roots` (absolute paths of directories or files).
 */
export function profileShares(dir: string, roots: readonly string[]): ProfileShares {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${dir}, found ${files.length}`);
  const profile = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as Profile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const prefixes = roots.map((r) => `file://${r}`);
  let busy = 0;
  let code = 0;
  let events = 0;
  let gc = 0;
  const byFunction = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frames.get(profile.samples[i]!)!;
    const dt = profile.timeDeltas[i]!;
    if (frame.functionName === '(idle)') continue;
    busy += dt;
    const prefix = prefixes.find((p) => frame.url.startsWith(p));
    if (prefix !== undefined) {
      code += dt;
      const name = `${frame.functionName || '(anonymous)'} ${frame.url.slice(prefix.length) || frame.url}`;
      byFunction.set(name, (byFunction.get(name) ?? 0) + dt);
    } else if (frame.url === 'node:events') events += dt;
    else if (frame.functionName === '(garbage collector)') gc += dt;
  }
  const share = (t: number): number => (busy === 0 ? 0 : t / busy);
  const top = [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([name, t]) => ({ name, share: share(t) }));
  return { busyMs: busy / 1000, code: share(code), events: share(events), gc: share(gc), top };
}
