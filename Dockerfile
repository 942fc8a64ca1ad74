# sessioncap, built from this checkout. Also runs the stand-in demo app
# (docker-compose.yml starts both from this one image).
FROM node:24-bookworm-slim
WORKDIR /srv
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
# `npm ci` compiles src/ into dist/ (the prepare script); then drop the build tools.
RUN npm ci && npm prune --omit=dev && npm cache clean --force
COPY config ./config
COPY test/fixtures ./test/fixtures
USER node
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["--config", "/srv/config/docker.yaml"]
