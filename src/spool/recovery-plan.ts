/**
 * What the spool does at start-up with each file it finds in open/, decided from the names and
 * the checkpoint alone (pure; `Spool.open` carries the plan out). The rule (DESIGN invariant
 * 10): no spool file is deleted unless its content is delivered and verified, or provably
 * covered by the checkpoint; a file the checkpoint does not cover is kept and reported.
 *
 * - `resume`: the checkpoint lists the file as open. Bytes past its checkpointed offset are cut
 *   off: they were written after the checkpoint's stream position, which delivers their events
 *   again (invariant 3), so the checkpoint covers them.
 * - `finish-move`: the checkpoint lists the file as closing (detached for sealing, not moved to
 *   sealed/ yet): the move is finished.
 * - `set-aside`: the checkpoint does not cover the file (nor, for a facts sidecar, its file).
 *   The capture records every new file in the checkpoint before writing its first byte, so such
 *   a file did not come from this capture's own bookkeeping: it is moved, whole, to
 *   unrecognized/ and reported; it is never delivered (its documents may be in the archive
 *   already) and never removed.
 * - `with-file`: a facts sidecar handled together with its file (resumed or moved).
 * - `ignore`: not a spool file or sidecar name (e.g. an operator's notes): left where it is.
 */
import { spoolPathOfFacts } from './facts-file.js';
import type { SpoolFileId, SpoolFileState, SpoolState } from './spool-files.js';
import { fileKey, parseSpoolFileName } from './spool-files.js';

export type RecoveryStep =
  | { action: 'resume'; name: string; state: SpoolFileState }
  | { action: 'finish-move'; name: string; state: SpoolFileState }
  | { action: 'set-aside'; name: string; reason: string }
  | { action: 'with-file'; name: string }
  | { action: 'ignore'; name: string };

/** The plan for the files named `names` in open/, given the checkpointed spool state (undefined: no checkpoint). One step per name, in name order. */
export function planRecovery(names: readonly string[], state: SpoolState | undefined): RecoveryStep[] {
  const open = new Map<string, SpoolFileState>();
  for (const f of state?.files ?? []) open.set(fileKey(f), f);
  const closing = new Map<string, SpoolFileState>();
  for (const f of state?.closing ?? []) closing.set(fileKey(f), f);
  const uncovered = state === undefined ? 'there is no capture checkpoint' : 'the checkpoint does not list it';
  const present = new Set(names);
  // A sidecar goes with its file: an open file's is cut back with it (present or not), a
  // closing file's moves with it (when the file is still here to move).
  const sidecarCovered = (id: SpoolFileId, file: string): boolean => open.has(fileKey(id)) || (closing.has(fileKey(id)) && present.has(file));
  return [...names].sort().map((name): RecoveryStep => {
    const ofFacts = spoolPathOfFacts(name);
    const factsOf = ofFacts === undefined ? undefined : parseSpoolFileName(ofFacts);
    if (factsOf) {
      if (sidecarCovered(factsOf, ofFacts as string)) return { action: 'with-file', name };
      return { action: 'set-aside', name, reason: closing.has(fileKey(factsOf)) ? 'a facts sidecar whose closed spool file is gone' : `${uncovered} (a facts sidecar)` };
    }
    const id = parseSpoolFileName(name);
    if (!id) return { action: 'ignore', name };
    // Closing wins: the checkpoint that detached a file lists it under `closing` only.
    const done = closing.get(fileKey(id));
    if (done) return { action: 'finish-move', name, state: done };
    const cp = open.get(fileKey(id));
    if (cp) return { action: 'resume', name, state: cp };
    return { action: 'set-aside', name, reason: uncovered };
  });
}
