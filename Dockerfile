# One image for Tollgate's API, worker and migrations; docker-compose.yml picks the process with
# `command` (npm run api | worker | migrate).
FROM node:20-bookworm-slim

# OpenSSL (Prisma's tooling probes for it) and CA certificates for outgoing TLS.
RUN apt-get update \
  && apt-get install -y --no-install-recommends openssl ca-certificates \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first so this layer is cached until package*.json change. Dev dependencies are
# installed too: `npm run generate` needs the Prisma CLI and the processes run through tsx.
COPY package.json package-lock.json ./
RUN npm ci

COPY . .
# Generates the Prisma client into generated/ (the script sets PRISMA_SCHEMA_ENGINE_BINARY itself).
# --no-test-server: the image never runs the test suite, so skip looking for Temporal's test server.
RUN npm run generate

ENV NODE_ENV=production
# Runtime processes only read /app; run them unprivileged.
USER node
EXPOSE 3000
CMD ["npm", "run", "api"]
