// The talk's echo service: a static Go binary that connects to NATS and serves svc.echo as a NATS micro service.
//
// It is written for the micro API of nats.go 1.22.1, the version Debian ships as golang-github-nats-io-go-nats-dev.
// That early API takes a single Endpoint in micro.Config (there is no AddEndpoint, no groups, no metadata), and its
// $SRV.PING/INFO/STATS replies use the early schema. With a newer nats.go the same service reads:
//
//	svc, _ := micro.AddService(nc, micro.Config{Name: "EchoService", Version: "1.0.0"})
//	svc.AddEndpoint("echo", micro.HandlerFunc(handler), micro.WithEndpointSubject("svc.echo"))
package main

import (
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

func main() {
	natsURL := os.Getenv("NATS_URL")
	if natsURL == "" {
		natsURL = nats.DefaultURL
	}
	opts := []nats.Option{nats.Name("echo-service"), nats.MaxReconnects(-1)}
	// A nex node passes its credentials this way when it has them.
	if creds := os.Getenv("NATS_CREDS"); creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	if seed := os.Getenv("NATS_NKEY"); seed != "" {
		opt, err := nats.NkeyOptionFromSeed(seed)
		if err != nil {
			log.Fatalf("nkey: %v", err)
		}
		opts = append(opts, opt)
	}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		log.Fatalf("connect: %v", err)
	}

	echoHandler := func(req *micro.Request) {
		if err := req.Respond(req.Data()); err != nil {
			log.Printf("respond: %v", err)
		}
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "EchoService",
		Version:     "1.0.0",
		Description: "Echoes every request",
		Endpoint: micro.Endpoint{
			Subject: "svc.echo",
			Handler: micro.RequestHandler(echoHandler),
		},
	})
	if err != nil {
		log.Fatalf("add service: %v", err)
	}
	log.Printf("EchoService %s listening on svc.echo", svc.Info().ID)

	// SIGTERM is how nex asks a service to stop: leave cleanly instead of being killed after the grace period.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = svc.Stop()
	_ = nc.Drain()
	log.Printf("EchoService stopped")
}
