/**
 * The fail points of a mongod started with test commands enabled, configured through
 * `configureFailPoint`; `mode` is 'alwaysOn', 'off', { times: n }, { skip: n } or
 * { activationProbability: p }.
 *
 *  - `failCommand`: fires before the command runs. `data` selects commands (failCommands,
 *    appName, namespace) and says what happens (blockConnection/blockTimeMS, closeConnection,
 *    errorCode with errorLabels, writeConcernError). It fires before a getMore's cursor is
 *    checked out, so, as on mongod (SERVER-46091), the server does not know the command reads a
 *    change stream and never adds ResumableChangeStreamError to its error: only the
 *    `errorLabels` given in `data` are attached then.
 *  - `failGetMoreAfterCursorCheckout`: fires in a getMore once its cursor is checked out (any
 *    cursor, any client): `data.errorCode` is raised there and the server labels the error as
 *    for a real failure of that getMore (ResumableChangeStreamError for the resumable codes of a
 *    change stream). The cursor is killed, as mongod kills a cursor whose getMore failed.
 */
import type { Document } from 'bson';
import { Code, CommandError, typeMismatch } from './errors.js';

export interface FailCommandData {
  failCommands: string[];
  errorCode?: number;
  errorLabels?: string[];
  closeConnection?: boolean;
  blockConnection?: boolean;
  blockTimeMS?: number;
  writeConcernError?: Document;
  errorExtraInfo?: Document;
  appName?: string;
  namespace?: string;
}

type Mode = { kind: 'off' } | { kind: 'alwaysOn' } | { kind: 'times'; n: number } | { kind: 'skip'; n: number } | { kind: 'probability'; p: number };

function parseMode(mode: unknown): Mode {
  if (mode === 'off') return { kind: 'off' };
  if (mode === 'alwaysOn') return { kind: 'alwaysOn' };
  if (mode && typeof mode === 'object' && !Array.isArray(mode)) {
    const m = mode as Document;
    if (typeof m.times === 'number') {
      if (m.times < 0) throw new CommandError(Code.BadValue, "'times' option to 'mode' must be positive");
      return m.times === 0 ? { kind: 'off' } : { kind: 'times', n: m.times };
    }
    if (typeof m.skip === 'number') return { kind: 'skip', n: m.skip };
    if (typeof m.activationProbability === 'number') return { kind: 'probability', p: m.activationProbability };
  }
  throw new CommandError(Code.BadValue, `Invalid mode: ${JSON.stringify(mode)}`);
}

function parseData(data: unknown): FailCommandData {
  if (data === undefined) return { failCommands: [] };
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw typeMismatch('configureFailPoint.data', data, 'object');
  const d = data as Document;
  const failCommands = d.failCommands;
  if (!Array.isArray(failCommands) || !failCommands.every((c) => typeof c === 'string')) {
    throw new CommandError(Code.BadValue, "'failCommands' must be an array of strings");
  }
  const out: FailCommandData = { failCommands };
  if (d.errorCode !== undefined) {
    if (typeof d.errorCode !== 'number') throw typeMismatch('data.errorCode', d.errorCode, 'int');
    out.errorCode = d.errorCode;
  }
  if (d.errorLabels !== undefined) {
    if (!Array.isArray(d.errorLabels)) throw typeMismatch('data.errorLabels', d.errorLabels, 'array');
    out.errorLabels = d.errorLabels.map(String);
  }
  if (d.closeConnection !== undefined) out.closeConnection = d.closeConnection === true;
  if (d.blockConnection !== undefined) {
    out.blockConnection = d.blockConnection === true;
    if (out.blockConnection && typeof d.blockTimeMS !== 'number') {
      throw new CommandError(Code.InvalidOptions, "'blockTimeMS' must be set when 'blockConnection' is true");
    }
  }
  if (typeof d.blockTimeMS === 'number') out.blockTimeMS = d.blockTimeMS;
  if (d.writeConcernError !== undefined) out.writeConcernError = d.writeConcernError as Document;
  if (d.errorExtraInfo !== undefined) out.errorExtraInfo = d.errorExtraInfo as Document;
  if (typeof d.appName === 'string') out.appName = d.appName;
  if (typeof d.namespace === 'string') out.namespace = d.namespace;
  return out;
}

/** What `failGetMoreAfterCursorCheckout` raises. */
export interface GetMoreFailureData {
  errorCode: number;
}

function parseGetMoreData(data: unknown): GetMoreFailureData {
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw typeMismatch('configureFailPoint.data', data, 'object');
  const d = data as Document;
  if (typeof d.errorCode !== 'number') throw typeMismatch('data.errorCode', d.errorCode, 'int');
  return { errorCode: d.errorCode };
}

/** One fail point: its mode, its data, and how often it fired since it was configured. */
class FailPoint<D> {
  mode: Mode = { kind: 'off' };
  data: D | undefined;
  timesEntered = 0;

  configure(mode: Mode, data: D | undefined): Document {
    const count = this.timesEntered;
    this.mode = mode;
    this.data = mode.kind === 'off' ? undefined : data;
    this.timesEntered = 0;
    return { count };
  }

  /** Whether the fail point fires now; consumes one activation when it does. */
  fire(): boolean {
    const mode = this.mode;
    switch (mode.kind) {
      case 'off':
        return false;
      case 'alwaysOn':
        break;
      case 'times':
        mode.n--;
        if (mode.n <= 0) this.mode = { kind: 'off' };
        break;
      case 'skip':
        if (mode.n > 0) {
          mode.n--;
          return false;
        }
        break;
      case 'probability':
        if (Math.random() >= mode.p) return false;
        break;
    }
    this.timesEntered++;
    return true;
  }
}

export const FAIL_POINT_NAMES = ['failCommand', 'failGetMoreAfterCursorCheckout'] as const;

export class FailPoints {
  readonly #failCommand = new FailPoint<FailCommandData>();
  readonly #getMore = new FailPoint<GetMoreFailureData>();

  /** Handles `configureFailPoint`; returns the reply fields. */
  configure(cmd: Document): Document {
    const name = cmd.configureFailPoint;
    if (typeof name !== 'string') throw typeMismatch('configureFailPoint', name, 'string');
    const mode = parseMode(cmd.mode);
    if (name === 'failCommand') return this.#failCommand.configure(mode, mode.kind === 'off' ? undefined : parseData(cmd.data));
    if (name === 'failGetMoreAfterCursorCheckout') {
      return this.#getMore.configure(mode, mode.kind === 'off' ? undefined : parseGetMoreData(cmd.data));
    }
    throw new CommandError(Code.BadValue, `Unknown fail point: ${name}. The emulator implements ${FAIL_POINT_NAMES.join(' and ')}.`);
  }

  /** Whether `failCommand` is on (a cheap test before `evaluate`). */
  get active(): boolean {
    return this.#failCommand.mode.kind !== 'off';
  }

  /** `failCommand`'s action for this command, consuming one activation when it fires. */
  evaluate(commandName: string, appName: string | undefined, ns: string): FailCommandData | undefined {
    const fp = this.#failCommand;
    const d = fp.data;
    if (fp.mode.kind === 'off' || d === undefined) return undefined;
    if (!d.failCommands.includes(commandName)) return undefined;
    if (d.appName !== undefined && d.appName !== appName) return undefined;
    if (d.namespace !== undefined && d.namespace !== ns) return undefined;
    return fp.fire() ? d : undefined;
  }

  /** The error code `failGetMoreAfterCursorCheckout` raises in this getMore, if it fires. */
  getMoreFailure(): number | undefined {
    const fp = this.#getMore;
    if (fp.mode.kind === 'off' || fp.data === undefined) return undefined;
    return fp.fire() ? fp.data.errorCode : undefined;
  }
}
