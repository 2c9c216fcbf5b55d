# Builds every paystream binary; compose.yaml picks one per service.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/ ./cmd/... && mkdir /data

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/ /usr/local/bin/
# A named volume mounted on /data takes this directory's owner: the nonroot user.
COPY --from=build --chown=65532:65532 /data /data
USER nonroot
