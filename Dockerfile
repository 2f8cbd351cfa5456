# syntax=docker/dockerfile:1
#
# cron-log-service container image.
#
#   docker build -t cron-log-service .
#   docker run --rm -e DB_URI=... -e S3_BUCKET=... -e METRICS_PORT=9464 -p 9464:9464 \
#     -v cron-log-spool:/var/lib/cron-log-service/spool cron-log-service            # = `run`
#   docker run --rm -e DB_URI=... cron-log-service reconcile --from 2024-01-15T00:00:00Z
#
# - Configuration comes from the environment (DB_URI, S3_*, AWS_*, METRICS_PORT, WEBHOOK_URL, …;
#   see docs/configuration.md) or from a file mounted into the container (`run --config FILE`).
# - The spool is a durable cache of not-yet-delivered data: keep
#   /var/lib/cron-log-service/spool on a persistent volume. Losing it is recovered from MongoDB
#   (repair from a query), but only while the oplog and the collection still hold the data.
# - Stopping: SIGTERM flushes the spool and checkpoints within SHUTDOWN_GRACE_MS (default 10 s).
#   Give the container more than that before SIGKILL: `docker stop -t 30`, compose
#   `stop_grace_period: 30s`, Kubernetes `terminationGracePeriodSeconds: 30`.
# - HEALTHCHECK: GET /healthz on METRICS_PORT. When METRICS_PORT is unset (no HTTP server) or 0
#   (a random port), the check has nothing to ask and reports healthy. /readyz (stream open,
#   capture lag under the threshold) is for orchestrators' readiness probes, not for HEALTHCHECK.
# - The image has no src/: bin/cron-log-service.js then runs the bundled command in
#   dist/bundle/ (scripts/bundle.ts, esbuild: a few files instead of hundreds of modules, for
#   start-up time; tsx and esbuild are dev dependencies and are not installed here).

# Node.js 22 or later is recommended (AWS SDK for JavaScript releases after January 2027 need it);
# 20.19 or later works: --build-arg NODE_VERSION=20.
ARG NODE_VERSION=22

# ---- build: compile TypeScript to dist/, bundle the command into dist/bundle/ -------------------
FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/
RUN npm run build

# ---- runtime: production dependencies, dist/, bin/ ---------------------------------------------
FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production \
    SPOOL_DIRECTORY=/var/lib/cron-log-service/spool
WORKDIR /app
COPY package.json package-lock.json ./
# --workspaces=false: the root package's production dependencies only. `--omit=dev` alone would
# also install the workspace packages (packages/mongo-emulator: the emulator, mingo) whenever
# their folders are present, since npm treats a workspace as a dependency of the root.
RUN npm ci --omit=dev --workspaces=false --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The spool directory belongs to the unprivileged `node` user of the base image (uid 1000); a
# named volume mounted there starts with this ownership.
RUN mkdir -p /var/lib/cron-log-service/spool \
 && chown -R node:node /var/lib/cron-log-service
USER node
VOLUME ["/var/lib/cron-log-service/spool"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p=process.env.METRICS_PORT;if(!p||p==='0')process.exit(0);fetch('http://127.0.0.1:'+p+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

STOPSIGNAL SIGTERM
# MALLOC_ARENA_MAX=2: glibc keeps two malloc arenas instead of one per thread of libuv's pool
# (part reads, gzip, hashing): `run` sealing a 1M-document hour peaks ~8 MiB lower (bench `memory`).
ENV MALLOC_ARENA_MAX=2
# --max-semi-space-size=4: V8's young generation at 4 MiB per semi-space (16 by default): `run`
# peaks about 38 MiB lower while capturing and sealing, with no measurable CPU cost at 3,000
# inserts/s (bench `memory`, docs/performance.md).
ENTRYPOINT ["node", "--max-semi-space-size=4", "bin/cron-log-service.js"]
CMD ["run"]
