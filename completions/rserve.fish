# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rserve_global_optspecs
    string join \n state-dir= q/quiet address= cacert= client-cert= client-key= tls-server-name= token-file= h/help V/version
end

function __fish_rserve_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rserve_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rserve_using_subcommand
    set -l cmd (__fish_rserve_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rserve -n "__fish_rserve_needs_command" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_needs_command" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_needs_command" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_needs_command" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_needs_command" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_needs_command" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_needs_command" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_needs_command" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_needs_command" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_needs_command" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "up" -d 'Start a node in the foreground (stop it with Ctrl-C, SIGTERM or `rserve down`)'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "down" -d 'Stop the running node gracefully'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "deploy" -d 'Create or update the applications in a TOML file (idempotent; never removes others)'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "diff" -d 'Show what `deploy` of a file would change, per deployment, changing nothing (exit 0: nothing, 1: something would change)'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "delete" -d 'Delete an application'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "scale" -d 'Set a deployment\'s replica count, kept as if its file said num_replicas = N (not for autoscaled ones)'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "status" -d 'Show applications, deployments and replicas with Ray Serve\'s status names'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "config" -d 'Print the deployed configuration'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "nodes" -d 'List the cluster\'s nodes: resources, labels, alive or dead (ask the head); `nodes remove ID` removes one'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "logs" -d 'Print log lines of replicas (and nodes) from across the cluster; -f follows'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "events" -d 'Print the cluster\'s event log: deploys, replicas starting, failing and stopping, nodes joining and dying'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "routes" -d 'Show each deployment\'s replicas with node, state, in-flight requests, rate, latency and errors, from every node\'s routers'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "top" -d 'Interactive terminal monitor of nodes, deployments, replicas, live routing, logs and events (k9s keys; ? for help)'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "tap" -d 'Print a live, rate-limited sample of requests as every node\'s ingress answers them'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "token" -d 'Manage join tokens for adding nodes to the cluster (on the head)'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "completion" -d 'Print a shell completion script'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "generate-man" -d 'Write man pages (one per command) into a directory'
complete -c rserve -n "__fish_rserve_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rserve -n "__fish_rserve_using_subcommand up" -l http-addr -d 'HTTP ingress address (port 0 picks a free port)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l control-addr -d 'Control endpoint address, UDP/QUIC (port 0 picks a free port)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l deploy -d 'Deploy this application file once the node is up, and again on SIGHUP (repeatable)' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l max-body-bytes -d 'Largest request body the ingress accepts, in bytes (larger: 413)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l max-connections -d 'Open HTTP connections at most; past it new ones are closed at once' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l max-connections-per-ip -d 'Open HTTP connections from one client address at most (0: no such cap; behind a proxy, keep 0)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l header-timeout-s -d 'Seconds a client has to send a request\'s head (also the keep-alive idle limit)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l body-timeout-s -d 'Longest pause, in seconds, while a request body arrives (longer: 408)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l h2-max-streams -d 'HTTP/2 streams (requests) open at once on one connection' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l request-timeout-s -d 'Seconds a request may wait for its answer to start, queueing included (past it: 408) [default: none]' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l max-queued-requests -d 'Requests queued at most over every deployment (past it: 503), under each max_queued_requests' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l max-buffered-mb -d 'Request bodies held in memory at most at once, in MiB (past it: 503)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l drain-timeout-s -d 'Seconds in-flight requests may take to finish after SIGTERM/SIGINT' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l log-format -d 'Log format' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c rserve -n "__fish_rserve_using_subcommand up" -l join -d 'Join the cluster whose head\'s control endpoint is here, an IP or a DNS name, looked up again at each reconnection (first time: with a token)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l join-wait-s -d 'Seconds a first join keeps retrying while the head cannot be reached (pods of a pool start before their head)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l node-name -d 'This node\'s id, e.g. a StatefulSet pod\'s stable name [default: the state dir\'s, or a new node-<hex>]' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l advertise-ip -d 'The IP other nodes reach this one at, when it binds 0.0.0.0 or [::] (e.g. a pod\'s IP) [default: as the head sees it]' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l pool-token-file -d 'Head: also accept joins with this reusable pool token (a file from `rserve token create --pool`; repeatable, or comma-separated in the variable)' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l token -d 'Join token from `rserve token create` on the head (prefer the environment variable)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l join-token-file -d 'File holding the join token, e.g. a systemd credential (keeps it out of argv and the environment)' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l num-cpus -d 'CPU cores this node offers [default: discovered]' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l num-gpus -d 'GPUs this node offers [default: discovered from the NVIDIA driver]' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l memory -d 'Memory this node offers, in bytes [default: discovered]' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l label -d 'A label for scheduling constraints, KEY=VALUE (repeatable, or several comma-separated; a value holds no comma)' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l node-timeout-s -d 'Head: seconds without a heartbeat after which a node is declared dead' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l node-cert-lifetime -d 'Head: how long node certificates are valid (30s, 12h, 90d); each is renewed in the last third of its life' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand up" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand up" -l demo -d 'Deploy the bundled digits demo at /digits once the node is up'
complete -c rserve -n "__fish_rserve_using_subcommand up" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand up" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand down" -l timeout -d 'Seconds to wait for the node to exit' -r
complete -c rserve -n "__fish_rserve_using_subcommand down" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand down" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand down" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand down" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand down" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand down" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand down" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand down" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand down" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand down" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -s f -l filename -d 'Application file, kubectl style (same as the positional FILE)' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l timeout -d 'Seconds `--wait` waits' -r
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -s o -l output -r -f -a "table\t'Aligned columns for people'
json\t'The stable JSON schema (docs/api.md)'
yaml\t'The same document as YAML'"
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l wait -d 'Block until every application in the file is RUNNING (exit 3 on timeout, 1 on failure)'
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -l dry-run -d 'Check the file against the node and print what would change, changing nothing (as `rserve diff`, but exit 0)'
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand deploy" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand diff" -s f -l filename -d 'Application file, kubectl style (same as the positional FILE)' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand diff" -s o -l output -r -f -a "table\t'Aligned columns for people'
json\t'The stable JSON schema (docs/api.md)'
yaml\t'The same document as YAML'"
complete -c rserve -n "__fish_rserve_using_subcommand diff" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand diff" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand diff" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand diff" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand diff" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand diff" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand diff" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand diff" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand diff" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l timeout -d 'Seconds `--wait` waits' -r
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand delete" -l wait -d 'Block until the application\'s replicas are gone (exit 3 on timeout)'
complete -c rserve -n "__fish_rserve_using_subcommand delete" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand delete" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand delete" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand scale" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand scale" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand scale" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand scale" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand scale" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand scale" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand scale" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand scale" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand scale" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand scale" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand status" -s o -l output -d 'Output format; `wide` adds trigger, ongoing requests, nodes and replica ids; `name` prints application/NAME lines' -r -f -a "table\t'Aligned columns for people'
wide\t'The table with more columns'
name\t'`kind/name`, one per line, for scripts'
json\t'The stable JSON schema (docs/api.md)'
yaml\t'The same document as YAML'"
complete -c rserve -n "__fish_rserve_using_subcommand status" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand status" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand status" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand status" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand status" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand status" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand status" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand status" -s w -l watch -d 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart'
complete -c rserve -n "__fish_rserve_using_subcommand status" -l no-headers -d 'Leave out the column headers (table and wide)'
complete -c rserve -n "__fish_rserve_using_subcommand status" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand status" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand config" -s o -l output -d 'Output format; `table` prints TOML, the file format' -r -f -a "table\t'Aligned columns for people'
json\t'The stable JSON schema (docs/api.md)'
yaml\t'The same document as YAML'"
complete -c rserve -n "__fish_rserve_using_subcommand config" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand config" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand config" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand config" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand config" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand config" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand config" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand config" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand config" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -s o -l output -d 'Output format; `wide` adds GPU memory, version and replica ids; `name` prints node/ID lines' -r -f -a "table\t'Aligned columns for people'
wide\t'The table with more columns'
name\t'`kind/name`, one per line, for scripts'
json\t'The stable JSON schema (docs/api.md)'
yaml\t'The same document as YAML'"
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -s w -l watch -d 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -l no-headers -d 'Leave out the column headers (table and wide)'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -f -a "remove" -d 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and not __fish_seen_subcommand_from remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)'
complete -c rserve -n "__fish_rserve_using_subcommand nodes; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l replica -d 'Only this replica' -r
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l node -d 'Only lines of this node' -r
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l since -d 'Only lines newer than this (30s, 10m, 2h)' -r
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l tail -d 'Only the last N lines of each replica (and node)' -r
complete -c rserve -n "__fish_rserve_using_subcommand logs" -s o -l output -d 'Output format; `json` prints JSON Lines (docs/api.md)' -r -f -a "text\t'Lines for people'
json\t'JSON Lines: one object per line with a `type` field (docs/api.md)'"
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand logs" -s f -l follow -d 'Follow: keep printing new lines as they are logged'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l timestamps -d 'Start each line with its time (RFC 3339, UTC)'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l prefix -d 'Start each line with its source, [replica/ID] or [node/ID] [default: when more than one source]'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -l no-prefix -d 'Never prefix lines with their source'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -s p -l previous -d 'The last lines of replicas that ended (stopped, crashed), as kubectl logs --previous'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand logs" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand events" -l tail -d 'Only the last N events of the history' -r
complete -c rserve -n "__fish_rserve_using_subcommand events" -s o -l output -d 'Output format; `json` prints JSON Lines (docs/api.md)' -r -f -a "text\t'Lines for people'
json\t'JSON Lines: one object per line with a `type` field (docs/api.md)'"
complete -c rserve -n "__fish_rserve_using_subcommand events" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand events" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand events" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand events" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand events" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand events" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand events" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand events" -s f -l follow -d 'Follow: keep printing new events'
complete -c rserve -n "__fish_rserve_using_subcommand events" -l no-headers -d 'Leave out the column headers'
complete -c rserve -n "__fish_rserve_using_subcommand events" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand events" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand routes" -s o -l output -d 'Output format; `wide` adds multiplexed models' -r -f -a "table\t'Aligned columns for people'
wide\t'The table with multiplexed models'
json\t'The stable JSON schema (docs/api.md); JSON Lines with --watch'
yaml\t'The same document as YAML'"
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand routes" -s w -l watch -d 'Watch: redraw on a terminal, else print the table (or a JSON object) per change'
complete -c rserve -n "__fish_rserve_using_subcommand routes" -l no-headers -d 'Leave out the column headers (table and wide)'
complete -c rserve -n "__fish_rserve_using_subcommand routes" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand routes" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand routes" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand top" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand top" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand top" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand top" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand top" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand top" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand top" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand top" -l readonly -d 'Disable every key that changes the cluster (scale, delete, restart): for on-call viewers'
complete -c rserve -n "__fish_rserve_using_subcommand top" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand top" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand top" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l node -d 'Only requests entering this node' -r
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l max-rps -d 'Most requests a second to print (linkerd tap\'s default)' -r
complete -c rserve -n "__fish_rserve_using_subcommand tap" -s o -l output -d 'Output format; `json` prints JSON Lines (docs/api.md)' -r -f -a "text\t'Lines for people'
json\t'JSON Lines: one object per line with a `type` field (docs/api.md)'"
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand tap" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand tap" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand tap" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand tap" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -f -a "create" -d 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node'
complete -c rserve -n "__fish_rserve_using_subcommand token; and not __fish_seen_subcommand_from create help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l ttl -d 'How long the token stays valid: seconds, or 30m, 12h, 365d (at most 3650d)' -r
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l uses -d 'Nodes the token may join (then it is used up)' -r
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -s o -l output -r -f -a "table\t'Aligned columns for people'
json\t'The stable JSON schema (docs/api.md)'
yaml\t'The same document as YAML'"
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -l pool -d 'Make a reusable pool token here, without a node: every node of a pool joins with it until --ttl passes (the head reads it with --pool-token-file)'
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node'
complete -c rserve -n "__fish_rserve_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rserve -n "__fish_rserve_using_subcommand completion" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand completion" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand completion" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand completion" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand completion" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand completion" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand completion" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand completion" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand completion" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand completion" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l out -d 'Directory to write the pages into' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l state-dir -d 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l address -d 'Control address of the node to talk to [default: from the state dir\'s node.json, else 127.0.0.1:8265]' -r
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l cacert -d 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l client-cert -d 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l client-key -d 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l tls-server-name -d 'Name verified in the node\'s certificate' -r
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -l token-file -d 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]' -r -F
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -s q -l quiet -d 'Print only the result and errors: no progress, no messages'
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -s h -l help -d 'Print help'
complete -c rserve -n "__fish_rserve_using_subcommand generate-man" -s V -l version -d 'Print version'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "up" -d 'Start a node in the foreground (stop it with Ctrl-C, SIGTERM or `rserve down`)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "down" -d 'Stop the running node gracefully'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "deploy" -d 'Create or update the applications in a TOML file (idempotent; never removes others)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "diff" -d 'Show what `deploy` of a file would change, per deployment, changing nothing (exit 0: nothing, 1: something would change)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "delete" -d 'Delete an application'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "scale" -d 'Set a deployment\'s replica count, kept as if its file said num_replicas = N (not for autoscaled ones)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "status" -d 'Show applications, deployments and replicas with Ray Serve\'s status names'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "config" -d 'Print the deployed configuration'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "nodes" -d 'List the cluster\'s nodes: resources, labels, alive or dead (ask the head); `nodes remove ID` removes one'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "logs" -d 'Print log lines of replicas (and nodes) from across the cluster; -f follows'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "events" -d 'Print the cluster\'s event log: deploys, replicas starting, failing and stopping, nodes joining and dying'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "routes" -d 'Show each deployment\'s replicas with node, state, in-flight requests, rate, latency and errors, from every node\'s routers'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "top" -d 'Interactive terminal monitor of nodes, deployments, replicas, live routing, logs and events (k9s keys; ? for help)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "tap" -d 'Print a live, rate-limited sample of requests as every node\'s ingress answers them'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "token" -d 'Manage join tokens for adding nodes to the cluster (on the head)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "completion" -d 'Print a shell completion script'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "generate-man" -d 'Write man pages (one per command) into a directory'
complete -c rserve -n "__fish_rserve_using_subcommand help; and not __fish_seen_subcommand_from up down deploy diff delete scale status config nodes logs events routes top tap token completion generate-man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and __fish_seen_subcommand_from nodes" -f -a "remove" -d 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)'
complete -c rserve -n "__fish_rserve_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "create" -d 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node'
