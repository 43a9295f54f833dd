// SPDX-License-Identifier: Apache-2.0
// The test cluster's pause image: a pod sandbox's first process. It holds
// the pod's namespaces open and exits on SIGTERM or SIGINT. It never
// spawns children, so it has none to reap (pods here do not share their
// PID namespace).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
