/**
 * Process warnings (`process.emitWarning`: deprecations, experimental features, a library's
 * notice) as log lines of the CLI instead of Node's own "(node:pid) Warning: …" text, which may
 * span several lines: under LOG_FORMAT=json every line on stderr is then JSON.
 *
 * The AWS SDK's notice that its releases after the first week of January 2027 require Node.js
 * 22 (a ten-line warning whenever an S3 client is made on Node.js 20) is switched off with the
 * SDK's documented variable AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, unless it is set
 * already: it would greet every command. The same advice is given once where it is useful: a
 * line of `doctor` and one warning when `run` starts (see `nodeVersionAdvice`).
 */
import type { Logger } from '../observe/logger.js';

const AWS_SDK_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

let routed = false;

/** Routes this process's warnings to `log()` (called per warning) from now on. Idempotent. */
export function routeProcessWarnings(log: () => Logger): void {
  process.env[AWS_SDK_SWITCH] ??= 'true';
  if (routed) return;
  routed = true;
  // Node prints warnings from a 'warning' listener of its own; ours replaces it.
  for (const listener of process.listeners('warning')) process.removeListener('warning', listener);
  process.on('warning', (warning: Error & { code?: string; detail?: string }) => {
    log().warn(warning.message, {
      warning: warning.name,
      ...(warning.code === undefined ? {} : { code: warning.code }),
      ...(warning.detail === undefined ? {} : { detail: warning.detail }),
    });
  });
}
