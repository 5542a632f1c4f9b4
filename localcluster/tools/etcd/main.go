// Command etcd is the etcd server built from a pinned go.etcd.io/etcd/server/v3
// release for the local cluster. build.sh compiles it; runner never imports it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
