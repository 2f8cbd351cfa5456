/**
 * Stable string keys for document `_id`s, computed the same way from a change event's document
 * and from an archived JSON line, so archived documents can be recognised again (duplicate
 * checks after a repair, reconcile). Analytics mode: the JSON of the mapped `_id`; ejson: its
 * canonical Extended JSON.
 */
import { EJSON } from 'bson';
import type { JsonMode } from './json-lines.js';
import { toAnalytics } from './json-lines.js';

export type IdKey = string;

export function idKeyOf(mode: JsonMode): (id: unknown) => IdKey {
  if (mode === 'ejson') return (id) => EJSON.stringify(id as never, { relaxed: false });
  return (id) => JSON.stringify(toAnalytics(id));
}

/** The `_id` key of one archived line (either mode: the JSON text of its `_id`). */
export function idKeyOfLine(line: string): IdKey {
  const parsed = JSON.parse(line) as { _id?: unknown };
  return JSON.stringify(parsed._id ?? null);
}
