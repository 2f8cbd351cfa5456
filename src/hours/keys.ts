/**
 * Object keys of archived hours, from a template.
 *
 * Default: `{prefix}/{date}/{hour}-{nextHour}{fold}{part}.ndjson.gz`
 *   → `api-logs/2024-01-15/00-01.ndjson.gz` (gzip NDJSON; README "S3 layout and manifest").
 *
 * Placeholders:
 *   {prefix}    outputDirectory (may contain "/"; when empty, a following "/" is dropped)
 *   {date}      local date of the hour, yyyy-MM-dd          {yyyy} {MM} {dd}  its parts
 *   {hour}      local hour HH (00–23)                       {nextHour} HH + 1 (01–24)
 *   {offset}    UTC offset at the hour's start, e.g. +0100
 *   {fold}      '' normally, `.2` for the second occurrence of a local hour repeated by a DST
 *               fall-back (keys stay unique on 25-hour days)
 *   {part}      '' for part 1 revision 0; `.part2`, `.part3` for late parts; `.rev1`, `.rev2`
 *               appended for rebuilt revisions (`.rev1`, `.part2.rev1`)
 *
 * The manifest of an hour sits next to its first data object: the data key of part 1 revision 0
 * with `.ndjson.gz` replaced by `.manifest.json`.
 */
import { ConfigError } from '../errors.js';
import type { HourSlot } from './hour-clock.js';

export const DEFAULT_KEY_TEMPLATE = '{prefix}/{date}/{hour}-{nextHour}{fold}{part}.ndjson.gz';
export const DATA_SUFFIX = '.ndjson.gz';
export const MANIFEST_SUFFIX = '.manifest.json';

export const KEY_PLACEHOLDERS = ['prefix', 'date', 'yyyy', 'MM', 'dd', 'hour', 'nextHour', 'offset', 'fold', 'part'] as const;
export type KeyPlaceholder = (typeof KEY_PLACEHOLDERS)[number];

export interface PartRef {
  /** 1 for the object sealed with the hour, 2, 3… for late parts. */
  index: number;
  /** 0 for the original, 1, 2… for rebuilt revisions. */
  revision: number;
}

export interface ParsedKey {
  kind: 'data' | 'manifest';
  date: string;
  hour: string;
  fold: 0 | 1;
  part: PartRef;
  /** Present when the template has {offset}. */
  offset?: string;
}

const PLACEHOLDER_SET: ReadonlySet<string> = new Set(KEY_PLACEHOLDERS);
const PLACEHOLDER_LIST = KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(', ');

type Token = { literal: string } | { placeholder: KeyPlaceholder };

/** Splits a template into literals and placeholders; throws on brace errors (validate first). */
function tokenize(template: string): Token[] {
  const tokens: Token[] = [];
  const re = /\{([^{}]*)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) tokens.push({ literal: template.slice(last, m.index) });
    tokens.push({ placeholder: m[1] as KeyPlaceholder });
    last = m.index + m[0].length;
  }
  if (last < template.length) tokens.push({ literal: template.slice(last) });
  return tokens;
}

/**
 * Every problem with `template`, each naming what is wrong and what is expected; empty when
 * the template is usable.
 */
export function validateKeyTemplate(template: string): string[] {
  if (typeof template !== 'string' || template.trim() === '') {
    return [`the key template is empty: expected something like "${DEFAULT_KEY_TEMPLATE}"`];
  }
  const t = JSON.stringify(template);
  const problems: string[] = [];
  const used = new Set<string>();
  // Braces: every "{" closes before the next "{", and no stray "}".
  let depth = 0;
  let balanced = true;
  for (const ch of template) {
    if (ch === '{') {
      if (depth > 0) balanced = false;
      depth++;
    } else if (ch === '}') {
      if (depth === 0) balanced = false;
      depth = Math.max(0, depth - 1);
    }
  }
  if (depth !== 0) balanced = false;
  if (!balanced) {
    problems.push(`key template ${t} has an unbalanced "{" or "}": expected placeholders written like {date}`);
  } else {
    for (const token of tokenize(template)) {
      if ('placeholder' in token) {
        if (PLACEHOLDER_SET.has(token.placeholder)) used.add(token.placeholder);
        else problems.push(`key template ${t} uses unknown placeholder {${token.placeholder}}: expected one of ${PLACEHOLDER_LIST}`);
      }
    }
  }
  if (template.startsWith('/')) {
    problems.push(`key template ${t} is absolute (starts with "/"): expected a relative key such as "${DEFAULT_KEY_TEMPLATE}"`);
  }
  if (template.includes('\\')) problems.push(`key template ${t} contains "\\": expected "/" as the only separator`);
  const segments = template.split('/');
  if (segments.slice(template.startsWith('/') ? 1 : 0).some((s) => s === '')) {
    problems.push(`key template ${t} has an empty path segment ("//" or a trailing "/"): expected non-empty segments separated by single "/"`);
  }
  if (segments.some((s) => s === '..' || s === '.')) {
    problems.push(`key template ${t} has a ".." or "." segment: expected plain segments, so every key stays under its prefix`);
  }
  if (balanced) {
    if (!used.has('hour')) problems.push(`key template ${t} lacks {hour}: expected {hour} so that each hour gets its own key`);
    const dateParts = (['yyyy', 'MM', 'dd'] as const).filter((p) => used.has(p));
    if (!used.has('date') && dateParts.length < 3) {
      const missing = (['yyyy', 'MM', 'dd'] as const).filter((p) => !used.has(p)).map((p) => `{${p}}`);
      problems.push(
        `key template ${t} lacks a date: expected {date} or all of {yyyy}, {MM} and {dd}${dateParts.length > 0 ? ` (missing ${missing.join(', ')})` : ''}`,
      );
    }
    if (!used.has('fold')) {
      problems.push(`key template ${t} lacks {fold}: expected {fold} so that the two occurrences of a local hour repeated by a DST fall-back get different keys`);
    }
    if (!used.has('part')) {
      problems.push(`key template ${t} lacks {part}: expected {part} so that late parts and rebuilt revisions of an hour get their own keys`);
    }
  }
  if (!template.endsWith(DATA_SUFFIX)) {
    problems.push(`key template ${t} must end with "${DATA_SUFFIX}": the archived objects are gzip-compressed NDJSON`);
  }
  return problems;
}

/** Every problem with a key prefix (outputDirectory). */
export function validateKeyPrefix(prefix: string): string[] {
  if (typeof prefix !== 'string') return ['the key prefix must be a string'];
  const p = prefix.replace(/^\/+|\/+$/g, '');
  const problems: string[] = [];
  if (p === '') return problems;
  const t = JSON.stringify(prefix);
  if (p.includes('\\')) problems.push(`key prefix ${t} contains "\\": expected "/" as the only separator`);
  if (/[{}]/.test(p)) problems.push(`key prefix ${t} contains "{" or "}": expected a literal prefix`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) problems.push(`key prefix ${t} contains a control character`);
  const segments = p.split('/');
  if (segments.some((s) => s === '')) problems.push(`key prefix ${t} has an empty path segment: expected segments separated by single "/"`);
  if (segments.some((s) => s === '.' || s === '..')) problems.push(`key prefix ${t} has a "." or ".." segment: expected plain segments`);
  return problems;
}

export function foldSuffix(fold: 0 | 1): string {
  return fold === 1 ? '.2' : '';
}

export function partSuffix(part: PartRef): string {
  if (!Number.isSafeInteger(part.index) || part.index < 1) throw new RangeError(`part index must be an integer >= 1, got ${part.index}`);
  if (!Number.isSafeInteger(part.revision) || part.revision < 0) throw new RangeError(`part revision must be an integer >= 0, got ${part.revision}`);
  return `${part.index > 1 ? `.part${part.index}` : ''}${part.revision > 0 ? `.rev${part.revision}` : ''}`;
}

/** `+01:00` → `+0100`. */
function compactOffset(offset: string): string {
  return offset.replace(':', '');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class KeyLayout {
  readonly template: string;
  /** Normalized prefix (no leading/trailing "/"). */
  readonly prefix: string;
  private readonly tokens: Token[];
  private parser: RegExp | undefined;

  constructor(template: string = DEFAULT_KEY_TEMPLATE, prefix = '') {
    const problems = [...validateKeyTemplate(template), ...validateKeyPrefix(prefix)];
    if (problems.length > 0) throw new ConfigError(problems);
    this.template = template;
    this.prefix = prefix.replace(/^\/+|\/+$/g, '');
    this.tokens = tokenize(template);
  }

  private render(values: Record<KeyPlaceholder, string>): string {
    let key = '';
    for (const token of this.tokens) key += 'literal' in token ? token.literal : values[token.placeholder];
    // An empty prefix must not leave an empty segment behind.
    if (this.prefix === '') key = key.replace(/^\/+/, '').replace(/\/{2,}/g, '/');
    return key;
  }

  private values(slot: HourSlot, part: PartRef): Record<KeyPlaceholder, string> {
    const [yyyy = '', MM = '', dd = ''] = slot.date.split('-');
    return {
      prefix: this.prefix,
      date: slot.date,
      yyyy,
      MM,
      dd,
      hour: slot.hour,
      nextHour: slot.nextHour,
      offset: compactOffset(slot.offset),
      fold: foldSuffix(slot.fold),
      part: partSuffix(part),
    };
  }

  /** Key of a data object of `slot`. */
  dataKey(slot: HourSlot, part: PartRef = { index: 1, revision: 0 }): string {
    return this.render(this.values(slot, part));
  }

  /** Key of the manifest of `slot`: its part-1 revision-0 data key with `.manifest.json`. */
  manifestKey(slot: HourSlot): string {
    const data = this.dataKey(slot, { index: 1, revision: 0 });
    return data.slice(0, -DATA_SUFFIX.length) + MANIFEST_SUFFIX;
  }

  /**
   * The longest literal start of every key of this layout (e.g. `api-logs/`), for listing the
   * whole archive.
   */
  listPrefix(): string {
    let out = '';
    for (const token of this.tokens) {
      if ('literal' in token) out += token.literal;
      else if (token.placeholder === 'prefix') out += this.prefix;
      else break;
    }
    if (this.prefix === '') out = out.replace(/^\/+/, '');
    return out;
  }

  /** Reads a key written by this layout back into its parts; undefined for any other key. */
  parse(key: string): ParsedKey | undefined {
    this.parser ??= this.buildParser();
    const m = this.parser.exec(key);
    if (m === null || m.groups === undefined) return undefined;
    const g = m.groups;
    const date = g['date'] ?? `${g['yyyy']}-${g['MM']}-${g['dd']}`;
    const kind = g['suffix'] === MANIFEST_SUFFIX ? 'manifest' : 'data';
    const part = { index: g['pidx'] !== undefined ? Number(g['pidx']) : 1, revision: g['rev'] !== undefined ? Number(g['rev']) : 0 };
    if (kind === 'manifest' && (part.index !== 1 || part.revision !== 0)) return undefined;
    if (part.index === 1 && g['pidx'] !== undefined) return undefined; // ".part1" is never written
    if (part.revision === 0 && g['rev'] !== undefined) return undefined; // ".rev0" is never written
    const parsed: ParsedKey = { kind, date, hour: g['hour'] ?? '', fold: g['fold'] === '.2' ? 1 : 0, part };
    if (g['offset'] !== undefined) parsed.offset = g['offset'];
    return parsed;
  }

  private buildParser(): RegExp {
    const patterns: Record<KeyPlaceholder, string> = {
      prefix: escapeRegExp(this.prefix),
      date: '\\d{4}-\\d{2}-\\d{2}',
      yyyy: '\\d{4}',
      MM: '\\d{2}',
      dd: '\\d{2}',
      hour: '\\d{2}',
      nextHour: '\\d{2}',
      offset: '[+-]\\d{4}',
      fold: '(?:\\.2)?',
      part: '',
    };
    const seen = new Set<string>();
    let re = '';
    const tokens = [...this.tokens];
    // The template ends with the literal ".ndjson.gz"; the manifest replaces it.
    const last = tokens[tokens.length - 1];
    if (last !== undefined && 'literal' in last) tokens[tokens.length - 1] = { literal: last.literal.slice(0, -DATA_SUFFIX.length) };
    for (const token of tokens) {
      if ('literal' in token) {
        re += escapeRegExp(token.literal);
        continue;
      }
      const name = token.placeholder;
      if (name === 'prefix') {
        re += patterns.prefix;
      } else if (name === 'part') {
        re += seen.has('part') ? '\\k<part>' : '(?<part>(?:\\.part(?<pidx>\\d+))?(?:\\.rev(?<rev>\\d+))?)';
      } else if (seen.has(name)) {
        re += `\\k<${name}>`;
      } else {
        re += `(?<${name}>${patterns[name]})`;
      }
      seen.add(name);
    }
    if (this.prefix === '') re = re.replace(/^\/+/, '').replace(/\/{2,}/g, '/');
    return new RegExp(`^${re}(?<suffix>${escapeRegExp(DATA_SUFFIX)}|${escapeRegExp(MANIFEST_SUFFIX)})$`);
  }
}
