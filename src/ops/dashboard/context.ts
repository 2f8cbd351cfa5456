/**
 * What the dashboard's data readers use: the archive context (ledger, operation log, destination,
 * key layout, hour clock), the `jobs` collection (checkpoint, lease) and a few settings. The
 * `dashboard` command and `run` both build it from a Config (src/archive-context.ts); nothing
 * here writes.
 */
import type { Collection, Document } from 'mongodb';
import type { Config } from '../../config/index.js';
import type { ArchiveContext } from '../../seal/context.js';

export interface DashboardContext extends ArchiveContext {
  config: Pick<Config, 'database' | 'collections' | 'spoolDirectory' | 'sealGraceSeconds' | 'sealSchedule'>;
  jobs: Collection<Document>;
}
