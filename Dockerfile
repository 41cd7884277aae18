# Production image: Node 24, runtime dependencies only, non-root.
# The service runs its migrations on start, so the image needs nothing else.
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY src ./src
COPY migrations ./migrations
COPY openapi ./openapi
COPY bin ./bin

RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080

# Node 24 runs the TypeScript sources directly (type stripping): no build step.
CMD ["node", "--max-old-space-size=256", "src/main.ts"]
