# One image for the api, the worker and the migrations; compose picks the command.

# Build: every dependency, compile TypeScript to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY worker ./worker
COPY widget ./widget
COPY scripts/compile.mjs scripts/build-widget.mjs ./scripts/
RUN npm run build

# Runtime: production dependencies, the compiled code and the SDL it reads at start-up.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY schema ./schema
COPY --from=build /app/dist ./dist
USER node
EXPOSE 4000
# Liveness only (/health does no I/O); node itself, since the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 4000}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node as PID 1 with nothing in between, so SIGTERM from `docker stop` reaches our shutdown.
CMD ["node", "dist/src/main.js"]
