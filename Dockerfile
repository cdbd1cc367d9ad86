# The LogFlux Agent in a container. Clients on the host reach it through a
# mounted socket directory (-v /run/logflux-agent:/run/logflux-agent) or TCP.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /logflux-agent ./cmd/logflux-agent

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /logflux-agent /usr/local/bin/logflux-agent
VOLUME ["/var/lib/logflux-agent", "/run/logflux-agent"]
ENV LOGFLUX_DATA_DIR=/var/lib/logflux-agent \
    LOGFLUX_UNIX_PATH=/run/logflux-agent/agent.sock \
    LOGFLUX_ADMIN_ADDRESS=0.0.0.0:9464
EXPOSE 9464
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/logflux-agent"]
CMD ["run"]
