
use builtin;
use str;

set edit:completion:arg-completer[rserve] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'rserve'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'rserve'= {
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand up 'Start a node in the foreground (stop it with Ctrl-C, SIGTERM or `rserve down`)'
            cand down 'Stop the running node gracefully'
            cand deploy 'Create or update the applications in a TOML file (idempotent; never removes others)'
            cand diff 'Show what `deploy` of a file would change, per deployment, changing nothing (exit 0: nothing, 1: something would change)'
            cand delete 'Delete an application'
            cand scale 'Set a deployment''s replica count, kept as if its file said num_replicas = N (not for autoscaled ones)'
            cand status 'Show applications, deployments and replicas with Ray Serve''s status names'
            cand config 'Print the deployed configuration'
            cand nodes 'List the cluster''s nodes: resources, labels, alive or dead (ask the head); `nodes remove ID` removes one'
            cand logs 'Print log lines of replicas (and nodes) from across the cluster; -f follows'
            cand events 'Print the cluster''s event log: deploys, replicas starting, failing and stopping, nodes joining and dying'
            cand routes 'Show each deployment''s replicas with node, state, in-flight requests, rate, latency and errors, from every node''s routers'
            cand top 'Interactive terminal monitor of nodes, deployments, replicas, live routing, logs and events (k9s keys; ? for help)'
            cand tap 'Print a live, rate-limited sample of requests as every node''s ingress answers them'
            cand token 'Manage join tokens for adding nodes to the cluster (on the head)'
            cand completion 'Print a shell completion script'
            cand generate-man 'Write man pages (one per command) into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rserve;up'= {
            cand --http-addr 'HTTP ingress address (port 0 picks a free port)'
            cand --control-addr 'Control endpoint address, UDP/QUIC (port 0 picks a free port)'
            cand --deploy 'Deploy this application file once the node is up, and again on SIGHUP (repeatable)'
            cand --max-body-bytes 'Largest request body the ingress accepts, in bytes (larger: 413)'
            cand --max-connections 'Open HTTP connections at most; past it new ones are closed at once'
            cand --max-connections-per-ip 'Open HTTP connections from one client address at most (0: no such cap; behind a proxy, keep 0)'
            cand --header-timeout-s 'Seconds a client has to send a request''s head (also the keep-alive idle limit)'
            cand --body-timeout-s 'Longest pause, in seconds, while a request body arrives (longer: 408)'
            cand --h2-max-streams 'HTTP/2 streams (requests) open at once on one connection'
            cand --request-timeout-s 'Seconds a request may wait for its answer to start, queueing included (past it: 408) [default: none]'
            cand --max-queued-requests 'Requests queued at most over every deployment (past it: 503), under each max_queued_requests'
            cand --max-buffered-mb 'Request bodies held in memory at most at once, in MiB (past it: 503)'
            cand --drain-timeout-s 'Seconds in-flight requests may take to finish after SIGTERM/SIGINT'
            cand --log-format 'Log format'
            cand --join 'Join the cluster whose head''s control endpoint is here, an IP or a DNS name, looked up again at each reconnection (first time: with a token)'
            cand --join-wait-s 'Seconds a first join keeps retrying while the head cannot be reached (pods of a pool start before their head)'
            cand --node-name 'This node''s id, e.g. a StatefulSet pod''s stable name [default: the state dir''s, or a new node-<hex>]'
            cand --advertise-ip 'The IP other nodes reach this one at, when it binds 0.0.0.0 or [::] (e.g. a pod''s IP) [default: as the head sees it]'
            cand --pool-token-file 'Head: also accept joins with this reusable pool token (a file from `rserve token create --pool`; repeatable, or comma-separated in the variable)'
            cand --token 'Join token from `rserve token create` on the head (prefer the environment variable)'
            cand --join-token-file 'File holding the join token, e.g. a systemd credential (keeps it out of argv and the environment)'
            cand --num-cpus 'CPU cores this node offers [default: discovered]'
            cand --num-gpus 'GPUs this node offers [default: discovered from the NVIDIA driver]'
            cand --memory 'Memory this node offers, in bytes [default: discovered]'
            cand --label 'A label for scheduling constraints, KEY=VALUE (repeatable, or several comma-separated; a value holds no comma)'
            cand --node-timeout-s 'Head: seconds without a heartbeat after which a node is declared dead'
            cand --node-cert-lifetime 'Head: how long node certificates are valid (30s, 12h, 90d); each is renewed in the last third of its life'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand --demo 'Deploy the bundled digits demo at /digits once the node is up'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;down'= {
            cand --timeout 'Seconds to wait for the node to exit'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;deploy'= {
            cand -f 'Application file, kubectl style (same as the positional FILE)'
            cand --filename 'Application file, kubectl style (same as the positional FILE)'
            cand --timeout 'Seconds `--wait` waits'
            cand -o 'o'
            cand --output 'output'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand --wait 'Block until every application in the file is RUNNING (exit 3 on timeout, 1 on failure)'
            cand --dry-run 'Check the file against the node and print what would change, changing nothing (as `rserve diff`, but exit 0)'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;diff'= {
            cand -f 'Application file, kubectl style (same as the positional FILE)'
            cand --filename 'Application file, kubectl style (same as the positional FILE)'
            cand -o 'o'
            cand --output 'output'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;delete'= {
            cand --timeout 'Seconds `--wait` waits'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand --wait 'Block until the application''s replicas are gone (exit 3 on timeout)'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;scale'= {
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;status'= {
            cand -o 'Output format; `wide` adds trigger, ongoing requests, nodes and replica ids; `name` prints application/NAME lines'
            cand --output 'Output format; `wide` adds trigger, ongoing requests, nodes and replica ids; `name` prints application/NAME lines'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -w 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart'
            cand --watch 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart'
            cand --no-headers 'Leave out the column headers (table and wide)'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;config'= {
            cand -o 'Output format; `table` prints TOML, the file format'
            cand --output 'Output format; `table` prints TOML, the file format'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;nodes'= {
            cand -o 'Output format; `wide` adds GPU memory, version and replica ids; `name` prints node/ID lines'
            cand --output 'Output format; `wide` adds GPU memory, version and replica ids; `name` prints node/ID lines'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -w 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart'
            cand --watch 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart'
            cand --no-headers 'Leave out the column headers (table and wide)'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand remove 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rserve;nodes;remove'= {
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;nodes;help'= {
            cand remove 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rserve;nodes;help;remove'= {
        }
        &'rserve;nodes;help;help'= {
        }
        &'rserve;logs'= {
            cand --replica 'Only this replica'
            cand --node 'Only lines of this node'
            cand --since 'Only lines newer than this (30s, 10m, 2h)'
            cand --tail 'Only the last N lines of each replica (and node)'
            cand -o 'Output format; `json` prints JSON Lines (docs/api.md)'
            cand --output 'Output format; `json` prints JSON Lines (docs/api.md)'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -f 'Follow: keep printing new lines as they are logged'
            cand --follow 'Follow: keep printing new lines as they are logged'
            cand --timestamps 'Start each line with its time (RFC 3339, UTC)'
            cand --prefix 'Start each line with its source, [replica/ID] or [node/ID] [default: when more than one source]'
            cand --no-prefix 'Never prefix lines with their source'
            cand -p 'The last lines of replicas that ended (stopped, crashed), as kubectl logs --previous'
            cand --previous 'The last lines of replicas that ended (stopped, crashed), as kubectl logs --previous'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;events'= {
            cand --tail 'Only the last N events of the history'
            cand -o 'Output format; `json` prints JSON Lines (docs/api.md)'
            cand --output 'Output format; `json` prints JSON Lines (docs/api.md)'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -f 'Follow: keep printing new events'
            cand --follow 'Follow: keep printing new events'
            cand --no-headers 'Leave out the column headers'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;routes'= {
            cand -o 'Output format; `wide` adds multiplexed models'
            cand --output 'Output format; `wide` adds multiplexed models'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -w 'Watch: redraw on a terminal, else print the table (or a JSON object) per change'
            cand --watch 'Watch: redraw on a terminal, else print the table (or a JSON object) per change'
            cand --no-headers 'Leave out the column headers (table and wide)'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;top'= {
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand --readonly 'Disable every key that changes the cluster (scale, delete, restart): for on-call viewers'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;tap'= {
            cand --node 'Only requests entering this node'
            cand --max-rps 'Most requests a second to print (linkerd tap''s default)'
            cand -o 'Output format; `json` prints JSON Lines (docs/api.md)'
            cand --output 'Output format; `json` prints JSON Lines (docs/api.md)'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;token'= {
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rserve;token;create'= {
            cand --ttl 'How long the token stays valid: seconds, or 30m, 12h, 365d (at most 3650d)'
            cand --uses 'Nodes the token may join (then it is used up)'
            cand -o 'o'
            cand --output 'output'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand --pool 'Make a reusable pool token here, without a node: every node of a pool joins with it until --ttl passes (the head reads it with --pool-token-file)'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;token;help'= {
            cand create 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rserve;token;help;create'= {
        }
        &'rserve;token;help;help'= {
        }
        &'rserve;completion'= {
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;generate-man'= {
            cand --out 'Directory to write the pages into'
            cand --state-dir 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]'
            cand --address 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]'
            cand --cacert 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]'
            cand --client-cert 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]'
            cand --client-key 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]'
            cand --tls-server-name 'Name verified in the node''s certificate'
            cand --token-file 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]'
            cand -q 'Print only the result and errors: no progress, no messages'
            cand --quiet 'Print only the result and errors: no progress, no messages'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rserve;help'= {
            cand up 'Start a node in the foreground (stop it with Ctrl-C, SIGTERM or `rserve down`)'
            cand down 'Stop the running node gracefully'
            cand deploy 'Create or update the applications in a TOML file (idempotent; never removes others)'
            cand diff 'Show what `deploy` of a file would change, per deployment, changing nothing (exit 0: nothing, 1: something would change)'
            cand delete 'Delete an application'
            cand scale 'Set a deployment''s replica count, kept as if its file said num_replicas = N (not for autoscaled ones)'
            cand status 'Show applications, deployments and replicas with Ray Serve''s status names'
            cand config 'Print the deployed configuration'
            cand nodes 'List the cluster''s nodes: resources, labels, alive or dead (ask the head); `nodes remove ID` removes one'
            cand logs 'Print log lines of replicas (and nodes) from across the cluster; -f follows'
            cand events 'Print the cluster''s event log: deploys, replicas starting, failing and stopping, nodes joining and dying'
            cand routes 'Show each deployment''s replicas with node, state, in-flight requests, rate, latency and errors, from every node''s routers'
            cand top 'Interactive terminal monitor of nodes, deployments, replicas, live routing, logs and events (k9s keys; ? for help)'
            cand tap 'Print a live, rate-limited sample of requests as every node''s ingress answers them'
            cand token 'Manage join tokens for adding nodes to the cluster (on the head)'
            cand completion 'Print a shell completion script'
            cand generate-man 'Write man pages (one per command) into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rserve;help;up'= {
        }
        &'rserve;help;down'= {
        }
        &'rserve;help;deploy'= {
        }
        &'rserve;help;diff'= {
        }
        &'rserve;help;delete'= {
        }
        &'rserve;help;scale'= {
        }
        &'rserve;help;status'= {
        }
        &'rserve;help;config'= {
        }
        &'rserve;help;nodes'= {
            cand remove 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)'
        }
        &'rserve;help;nodes;remove'= {
        }
        &'rserve;help;logs'= {
        }
        &'rserve;help;events'= {
        }
        &'rserve;help;routes'= {
        }
        &'rserve;help;top'= {
        }
        &'rserve;help;tap'= {
        }
        &'rserve;help;token'= {
            cand create 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node'
        }
        &'rserve;help;token;create'= {
        }
        &'rserve;help;completion'= {
        }
        &'rserve;help;generate-man'= {
        }
        &'rserve;help;help'= {
        }
    ]
    $completions[$command]
}
