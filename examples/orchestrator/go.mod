module example.com/orchestrator

go 1.19

require (
	github.com/gomodule/redigo v1.8.3
	github.com/gorilla/websocket v1.5.0
	github.com/lib/pq v1.10.7
)

// The Go module proxy is not used: the three libraries come from Debian's
// packages (golang-github-gomodule-redigo-dev, golang-github-gorilla-websocket-dev,
// golang-github-lib-pq-dev), which install their source under /usr/share/gocode.
// The same lines work on a developer's machine, in CI and in the images.
replace (
	github.com/gomodule/redigo => /usr/share/gocode/src/github.com/gomodule/redigo
	github.com/gorilla/websocket => /usr/share/gocode/src/github.com/gorilla/websocket
	github.com/lib/pq => /usr/share/gocode/src/github.com/lib/pq
)
