package hub_test

import (
	"fmt"
	"log"
	"net"
	"os"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/mux"
)

// A program embeds a hub in a few lines: a folder for uploads, an access
// key, a listener. Serve runs until Close.
func Example() {
	dir, err := os.MkdirTemp("", "hub")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	key := mux.NewKey() // give key.String() to the clients
	h, err := hub.New(hub.Config{Dir: dir, Mux: mux.Config{Key: key}})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.Serve(ln) }()

	fmt.Println("clients connected:", len(h.Clients()))
	h.Close()
	fmt.Println("Serve returned:", <-served)
	// Output:
	// clients connected: 0
	// Serve returned: <nil>
}
