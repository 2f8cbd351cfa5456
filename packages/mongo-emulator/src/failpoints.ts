/**
 * The `failCommand` fail point, configured through `configureFailPoint` as on a mongod started
 * with test commands enabled: `mode` is 'alwaysOn', 'off', { times: n }, { skip: n } or
 * { activationProbability: p }; `data` selects commands (failCommands, appName, namespace) and
 * says what happens (blockConnection/blockTimeMS, closeConnection, errorCode with errorLabels,
 * writeConcernError).
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

export class FailPoints {
  #mode: Mode = { kind: 'off' };
  #data: FailCommandData = { failCommands: [] };
  #timesEntered = 0;

  /** Handles `configureFailPoint`; returns the reply fields. */
  configure(cmd: Document): Document {
    const name = cmd.configureFailPoint;
    if (typeof name !== 'string') throw typeMismatch('configureFailPoint', name, 'string');
    if (name !== 'failCommand') {
      throw new CommandError(Code.BadValue, `Unknown fail point: ${name}. The emulator implements 'failCommand'.`);
    }
    const mode = parseMode(cmd.mode);
    const data = mode.kind === 'off' ? { failCommands: [] } : parseData(cmd.data);
    const count = this.#timesEntered;
    this.#mode = mode;
    this.#data = data;
    this.#timesEntered = 0;
    return { count };
  }

  get active(): boolean {
    return this.#mode.kind !== 'off';
  }

  /** The fail point's action for this command, consuming one activation when it fires. */
  evaluate(commandName: string, appName: string | undefined, ns: string): FailCommandData | undefined {
    const mode = this.#mode;
    if (mode.kind === 'off') return undefined;
    const d = this.#data;
    if (!d.failCommands.includes(commandName)) return undefined;
    if (d.appName !== undefined && d.appName !== appName) return undefined;
    if (d.namespace !== undefined && d.namespace !== ns) return undefined;
    switch (mode.kind) {
      case 'alwaysOn':
        break;
      case 'times':
        mode.n--;
        if (mode.n <= 0) this.#mode = { kind: 'off' };
        break;
      case 'skip':
        if (mode.n > 0) {
          mode.n--;
          return undefined;
        }
        break;
      case 'probability':
        if (Math.random() >= mode.p) return undefined;
        break;
    }
    this.#timesEntered++;
    return d;
  }
}
