/** A printable copy of a Config with every sensitive option hidden, driven by the option table. */
import { MASK, redactUri } from '../redact.js';
import type { Sensitivity } from './option-def.js';
import { optionList } from './option-list.js';
import { maskConnectionString } from './value-checks.js';
import type { Config } from './resolve.js';

function hide(value: string, sensitivity: Sensitivity): string {
  switch (sensitivity) {
    case 'secret':
      return MASK;
    case 'uri-password':
      return redactUri(value);
    case 'identifier':
      return value.length > 8 ? `${MASK}${value.slice(-4)}` : MASK;
    case 'connection-string':
      return maskConnectionString(value, MASK);
    case 'url-token': {
      try {
        const url = new URL(value);
        return url.pathname === '/' && url.search === '' && url.username === '' ? url.origin : `${url.origin}/${MASK}`;
      } catch {
        return MASK;
      }
    }
  }
}

/** The config as a plain, JSON-serializable object with secrets replaced: safe to print or log. */
export function safeConfigView(config: Config): Record<string, unknown> {
  const out = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  for (const { keys, option } of optionList) {
    if (option.sensitive === undefined) continue;
    let node: Record<string, unknown> | undefined = out;
    for (const key of keys.slice(0, -1)) node = node?.[key] as Record<string, unknown> | undefined;
    const last = keys.at(-1);
    if (node === undefined || last === undefined) continue;
    const value = node[last];
    if (typeof value === 'string') node[last] = hide(value, option.sensitive);
  }
  return out;
}
