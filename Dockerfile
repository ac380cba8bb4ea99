# One image for the api and the worker; compose picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# tsx runs the TypeScript sources directly, so the image needs no build step.
RUN npm ci --omit=dev --no-audit --no-fund
COPY schema ./schema
COPY src ./src
COPY worker ./worker
COPY tsconfig.json ./
USER node
EXPOSE 4000
CMD ["npm", "run", "start:api"]
