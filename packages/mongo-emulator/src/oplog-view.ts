/**
 * `local.oplog.rs` as clients read it: oplog entries rendered in mongod's shape
 * (op, ns, ui, o, o2, ts, t, v, wall). Tools find the oplog window from the first and last
 * entries in `$natural` order.
 */
import { Long, UUID } from 'bson';
import type { Document } from 'bson';
import { fromTimestamp, toTimestamp } from './clock.js';
import type { Ts } from './clock.js';
import type { Oplog, OplogEntry } from './oplog.js';

const TERM = Long.fromNumber(1);
const VERSION = Long.fromNumber(2);

export function oplogDocument(e: OplogEntry): Document {
  const doc: Document = { op: e.op };
  const cmdNs = `${e.db}.$cmd`;
  switch (e.op) {
    case 'n':
      doc.ns = '';
      doc.o = { msg: e.cmd?.kind === 'noop' ? e.cmd.msg : 'noop' };
      break;
    case 'i':
      doc.ns = `${e.db}.${e.coll}`;
      doc.ui = new UUID(e.uuid!);
      doc.o = e.doc!.obj;
      break;
    case 'u':
      doc.ns = `${e.db}.${e.coll}`;
      doc.ui = new UUID(e.uuid!);
      if (e.replace) {
        doc.o = e.doc!.obj;
      } else {
        const diff: Document = {};
        const upd = e.update!;
        if (upd.removedFields.length > 0) diff.d = Object.fromEntries(upd.removedFields.map((f) => [f, false]));
        if (Object.keys(upd.updatedFields).length > 0) diff.u = upd.updatedFields;
        doc.o = { $v: 2, diff };
      }
      doc.o2 = { _id: e.id };
      break;
    case 'd':
      doc.ns = `${e.db}.${e.coll}`;
      doc.ui = new UUID(e.uuid!);
      doc.o = { _id: e.id };
      break;
    case 'c': {
      doc.ns = cmdNs;
      if (e.uuid) doc.ui = new UUID(e.uuid);
      const cmd = e.cmd!;
      switch (cmd.kind) {
        case 'create':
          doc.o = { create: e.coll, idIndex: { v: 2, key: { _id: 1 }, name: '_id_' }, ...cmd.options };
          break;
        case 'drop':
          doc.o = { drop: e.coll };
          break;
        case 'dropDatabase':
          doc.o = { dropDatabase: 1 };
          break;
        case 'rename':
          doc.o = { renameCollection: `${e.db}.${e.coll}`, to: `${cmd.toDb}.${cmd.toColl}`, stayTemp: false, dropTarget: cmd.dropTarget };
          break;
        case 'createIndexes':
          doc.o = { createIndexes: e.coll, ...cmd.spec };
          break;
        case 'dropIndexes':
          doc.o = { dropIndexes: e.coll, index: cmd.name };
          break;
        case 'collMod':
          doc.o = { collMod: e.coll, ...cmd.options };
          break;
        case 'noop':
          doc.o = { msg: cmd.msg };
          break;
      }
      break;
    }
  }
  doc.ts = toTimestamp(e.ts);
  doc.t = TERM;
  doc.v = VERSION;
  doc.wall = new Date(e.wall);
  return doc;
}

/**
 * Narrows an oplog read by top-level `ts` bounds of the filter (binary search) and returns the
 * rest of the filter for the query engine.
 */
export function oplogRange(oplog: Oplog, filter: Document): { from: number; to: number; rest: Document } {
  let from = oplog.startSeq;
  let to = oplog.endSeq;
  const rest: Document = { ...filter };
  const cond = filter.ts;
  const asTs = (v: unknown): Ts | undefined => fromTimestamp(v);
  if (cond !== undefined) {
    const exact = asTs(cond);
    if (exact !== undefined) {
      from = oplog.seqAtOrAfter(exact);
      to = Math.min(to, oplog.seqAtOrAfter(exact + 1n));
      delete rest.ts;
    } else if (cond && typeof cond === 'object' && !Array.isArray(cond)) {
      const c = cond as Document;
      const ops = Object.keys(c);
      if (ops.length > 0 && ops.every((op) => ['$gt', '$gte', '$lt', '$lte', '$eq'].includes(op) && asTs(c[op]) !== undefined)) {
        for (const op of ops) {
          const t = asTs(c[op])!;
          if (op === '$gt') from = Math.max(from, oplog.seqAtOrAfter(t + 1n));
          if (op === '$gte') from = Math.max(from, oplog.seqAtOrAfter(t));
          if (op === '$lt') to = Math.min(to, oplog.seqAtOrAfter(t));
          if (op === '$lte') to = Math.min(to, oplog.seqAtOrAfter(t + 1n));
          if (op === '$eq') {
            from = Math.max(from, oplog.seqAtOrAfter(t));
            to = Math.min(to, oplog.seqAtOrAfter(t + 1n));
          }
        }
        delete rest.ts;
      }
    }
  }
  return { from, to: Math.max(from, to), rest };
}

/** Oplog documents in [from, to), forwards or backwards. */
export function* oplogDocuments(oplog: Oplog, from: number, to: number, reverse: boolean): IterableIterator<Document> {
  if (reverse) {
    for (let s = to - 1; s >= from; s--) {
      const e = oplog.at(s);
      if (e) yield oplogDocument(e);
    }
  } else {
    for (let s = from; s < to; s++) {
      const e = oplog.at(s);
      if (e) yield oplogDocument(e);
    }
  }
}
