# The operator image: `node dist/src/main.js run` as a non-root user on a read-only root filesystem.

# Build: compile the TypeScript into dist/; the build also writes the prebuilt workflow bundle.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm run --if-present bundle

# Runtime: production dependencies and dist/ only.
FROM node:24-slim
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["run"]
