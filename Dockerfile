# sessioncap, built from this checkout.
#
#   docker build -t sessioncap .                         the gateway (the last stage, `runtime`)
#   docker build -t sessioncap-demo-app --target demo-app .   the stand-in app docker-compose.yml runs
#
# The runtime stage installs the very tarball `npm pack` makes, with its
# production dependencies only, so the image holds what the package ships
# and nothing else (test/package.test.ts tests that tarball; the checkout's
# sources, tests and build tools never reach the image).

# --- build: compile, then pack as it would be published ---------------------
FROM node:24-bookworm-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
# No scripts: `prepare` would compile before src/ is here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json README.md ./
COPY src ./src
COPY templates ./templates
COPY config ./config
RUN npm run build \
 && mkdir /pkg \
 && npm pack --ignore-scripts --pack-destination /pkg \
 && mv /pkg/sessioncap-*.tgz /pkg/sessioncap.tgz

# --- demo-app: the stand-in legacy app of the demo and docker-compose.yml ----
# Not part of the gateway's image. Its two dependencies come from the build
# stage, at the versions package-lock.json pins (neither has dependencies).
FROM node:24-bookworm-slim AS demo-app
WORKDIR /app
COPY --from=build /build/node_modules/jose ./node_modules/jose
COPY --from=build /build/node_modules/ws ./node_modules/ws
COPY test/fixtures/legacy-app.mjs ./
USER node
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
CMD ["node", "legacy-app.mjs"]

# --- runtime: the gateway ----------------------------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SESSIONCAP_CONFIG=/etc/sessioncap/sessioncap.yaml
COPY --from=build /pkg/sessioncap.tgz /tmp/sessioncap.tgz
# The package goes where `npm install -g` puts it, owned by root: the
# gateway's user can read its code but not change it. The configuration is
# the package's docker.yaml until one is mounted over it; /var/lib/sessioncap
# is the one place the gateway may write (a memory store's snapshot).
RUN npm install -g --omit=dev --no-audit --no-fund /tmp/sessioncap.tgz \
 && rm /tmp/sessioncap.tgz \
 && npm cache clean --force \
 && mkdir -p /etc/sessioncap /var/lib/sessioncap \
 && cp "$(npm root -g)/sessioncap/config/docker.yaml" /etc/sessioncap/sessioncap.yaml \
 && chown node:node /var/lib/sessioncap
# The node image's unprivileged user (uid 1000).
USER node
WORKDIR /var/lib/sessioncap
EXPOSE 8080 9090
# Liveness: GET {pages.prefix}healthz on the proxied port (pages.health: true
# in config/docker.yaml). curl is not in the slim image; node's fetch is.
HEALTHCHECK --interval=15s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/.sessioncap/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The bin is a `#!/usr/bin/env node` script: node itself runs as PID 1 and
# gets the SIGTERM of `docker stop`, which stops the gateway gracefully
# (up to shutdownTimeout, then the state is saved): give `docker stop -t`
# (compose: stop_grace_period) more than shutdownTimeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sessioncap"]
CMD ["run"]
