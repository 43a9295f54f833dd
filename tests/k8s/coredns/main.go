// SPDX-License-Identifier: Apache-2.0
// The test cluster's DNS (scripts/k8s): CoreDNS with only the plugins the
// Corefile scripts/k8s writes uses, so the build is a fraction of the full
// server's (which links every cloud provider's SDK). CoreDNS's own main is
// these two lines with every plugin imported.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
