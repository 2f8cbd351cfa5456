/**
 * The states a cell of the dashboard's archive calendar can show, and how each one is told apart
 * without colour: a label, a one-character glyph and a tone. The page draws its legend and its
 * cells from this list (`/api/hours` sends it), so a state added later — a new reconcile verdict
 * in src/reconcile/verdict.ts — shows up with a label even before it has an entry here: `describe`
 * makes one from its name, in the tone the verdict's own `passes()` gives it.
 *
 * Where a cell's state comes from (`cellState`): the ledger's hour record in `jobs`, written by
 * the seal run and by every reconcile, whose verdict (verdict.ts, the one rule both use) is kept
 * as `reconcile.status`:
 *   - state `sealed`: the hour is closed and waits for delivery (`lastError`: a delivery failed);
 *   - state `delivered`: delivered, not yet compared with MongoDB;
 *   - state `verified` or `mismatch`, or no state but a reconcile: the reconcile's verdict;
 *   - no record: `open` while the hour is still being captured (it has not ended, or a spool
 *     file of it is open), else `not-archived`.
 */
import type { HourRecord } from '../../ledger/hour-states.js';
import type { HourStatus } from '../../reconcile/verdict.js';
import { passes } from '../../reconcile/verdict.js';

/** How a state reads: `pass` (archived and verified), `wait` (on its way), `fail` (needs attention), `none` (nothing archived). */
export type Tone = 'pass' | 'wait' | 'fail' | 'none';

export interface CellStateInfo {
  state: string;
  label: string;
  /** One character drawn in the cell, so that no state is told by colour alone. */
  glyph: string;
  tone: Tone;
  description: string;
}

const KNOWN: readonly CellStateInfo[] = [
  { state: 'ok', label: 'verified', glyph: '✓', tone: 'pass', description: 'delivered, and MongoDB holds as many documents of the hour as the archive' },
  { state: 'deleted-at-source', label: 'deleted at source', glyph: '↓', tone: 'pass', description: 'MongoDB holds fewer documents than the archive (deleted after they were archived); the archive keeps them' },
  { state: 'expired-at-source', label: 'expired at source', glyph: '◇', tone: 'pass', description: 'a TTL index removed the hour from MongoDB; the archive keeps it' },
  { state: 'purged', label: 'purged', glyph: '∅', tone: 'pass', description: 'removed from MongoDB by purge after proof of archive' },
  { state: 'delivered', label: 'delivered', glyph: '↑', tone: 'wait', description: 'delivered, not yet compared with MongoDB (the next seal run or reconcile does)' },
  { state: 'sealed', label: 'sealed, awaiting delivery', glyph: '◆', tone: 'wait', description: 'closed locally; delivery is pending (or failed and is retried by the next seal run)' },
  { state: 'open', label: 'open (capturing)', glyph: '●', tone: 'wait', description: 'the hour is still being captured into the spool' },
  { state: 'mismatch', label: 'mismatch', glyph: '✗', tone: 'fail', description: 'MongoDB holds documents the archive lacks, or an object disagrees with the manifest (reconcile --deep, then --repair)' },
  { state: 'missing', label: 'missing', glyph: '!', tone: 'fail', description: 'an object the manifest lists is absent (reconcile --repair)' },
  { state: 'not-archived', label: 'not archived', glyph: '–', tone: 'none', description: 'the hour has no manifest: it was never sealed' },
];

const BY_STATE = new Map(KNOWN.map((s) => [s.state, s]));

/** The entry of `state`: the known one, or one made from its name (a verdict added since). */
export function describe(state: string): CellStateInfo {
  const known = BY_STATE.get(state);
  if (known) return known;
  const tone: Tone = passes(state as HourStatus) ? 'pass' : 'fail';
  return { state, label: state.replace(/-/g, ' '), glyph: state.charAt(0).toUpperCase() || '?', tone, description: `reconcile verdict "${state}"` };
}

/** The legend for a set of cells: every known state, then any other state the cells hold. */
export function legend(states: Iterable<string>): CellStateInfo[] {
  const out = [...KNOWN];
  for (const s of new Set(states)) if (!BY_STATE.has(s)) out.push(describe(s));
  return out;
}

/** The state of an hour from its ledger record (see the module comment); `open`: capture still writes it. */
export function cellState(record: Partial<HourRecord> | undefined, open: boolean): string {
  if (record?.state === 'sealed') return 'sealed';
  if (record?.state === 'delivered') return 'delivered';
  const verdict = record?.reconcile?.status;
  if (verdict !== undefined && (record?.state === 'verified' || record?.state === 'mismatch' || record?.state === undefined)) {
    // A reconcile of an hour still being captured says not-archived: it is open.
    return verdict === 'not-archived' && open ? 'open' : verdict;
  }
  if (record?.state === 'verified') return 'ok';
  if (record?.state !== undefined) return record.state;
  return open ? 'open' : 'not-archived';
}
