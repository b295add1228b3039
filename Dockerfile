# syntax=docker/dockerfile:1
# Gatehouse container: multi-stage, runs as a non-root user, `gatehouse serve` as entrypoint.
#   docker build -t gatehouse .
#   docker run -p 4180:4180 -v $PWD/deploy:/etc/gatehouse:ro \
#     -e GATEHOUSE_SESSION_SECRET=... gatehouse --config /etc/gatehouse/config.yaml
# The config must listen on 0.0.0.0:4180 inside the container.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proxy ./proxy
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json config.example.yaml ./
COPY policies ./policies
# The image's `node` user (uid 1000): no root, no write access to the app.
USER node
EXPOSE 4180
HEALTHCHECK --interval=30s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:4180/.gatehouse/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/proxy/main.js", "serve"]
CMD ["--config", "/etc/gatehouse/config.yaml"]
