
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'rserve' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'rserve'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'rserve' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Start a node in the foreground (stop it with Ctrl-C, SIGTERM or `rserve down`)')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Stop the running node gracefully')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Create or update the applications in a TOML file (idempotent; never removes others)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Show what `deploy` of a file would change, per deployment, changing nothing (exit 0: nothing, 1: something would change)')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an application')
            [CompletionResult]::new('scale', 'scale', [CompletionResultType]::ParameterValue, 'Set a deployment''s replica count, kept as if its file said num_replicas = N (not for autoscaled ones)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show applications, deployments and replicas with Ray Serve''s status names')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Print the deployed configuration')
            [CompletionResult]::new('nodes', 'nodes', [CompletionResultType]::ParameterValue, 'List the cluster''s nodes: resources, labels, alive or dead (ask the head); `nodes remove ID` removes one')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print log lines of replicas (and nodes) from across the cluster; -f follows')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Print the cluster''s event log: deploys, replicas starting, failing and stopping, nodes joining and dying')
            [CompletionResult]::new('routes', 'routes', [CompletionResultType]::ParameterValue, 'Show each deployment''s replicas with node, state, in-flight requests, rate, latency and errors, from every node''s routers')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'Interactive terminal monitor of nodes, deployments, replicas, live routing, logs and events (k9s keys; ? for help)')
            [CompletionResult]::new('tap', 'tap', [CompletionResultType]::ParameterValue, 'Print a live, rate-limited sample of requests as every node''s ingress answers them')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Manage join tokens for adding nodes to the cluster (on the head)')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('generate-man', 'generate-man', [CompletionResultType]::ParameterValue, 'Write man pages (one per command) into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rserve;up' {
            [CompletionResult]::new('--http-addr', '--http-addr', [CompletionResultType]::ParameterName, 'HTTP ingress address (port 0 picks a free port)')
            [CompletionResult]::new('--control-addr', '--control-addr', [CompletionResultType]::ParameterName, 'Control endpoint address, UDP/QUIC (port 0 picks a free port)')
            [CompletionResult]::new('--deploy', '--deploy', [CompletionResultType]::ParameterName, 'Deploy this application file once the node is up, and again on SIGHUP (repeatable)')
            [CompletionResult]::new('--max-body-bytes', '--max-body-bytes', [CompletionResultType]::ParameterName, 'Largest request body the ingress accepts, in bytes (larger: 413)')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Open HTTP connections at most; past it new ones are closed at once')
            [CompletionResult]::new('--max-connections-per-ip', '--max-connections-per-ip', [CompletionResultType]::ParameterName, 'Open HTTP connections from one client address at most (0: no such cap; behind a proxy, keep 0)')
            [CompletionResult]::new('--header-timeout-s', '--header-timeout-s', [CompletionResultType]::ParameterName, 'Seconds a client has to send a request''s head (also the keep-alive idle limit)')
            [CompletionResult]::new('--body-timeout-s', '--body-timeout-s', [CompletionResultType]::ParameterName, 'Longest pause, in seconds, while a request body arrives (longer: 408)')
            [CompletionResult]::new('--h2-max-streams', '--h2-max-streams', [CompletionResultType]::ParameterName, 'HTTP/2 streams (requests) open at once on one connection')
            [CompletionResult]::new('--request-timeout-s', '--request-timeout-s', [CompletionResultType]::ParameterName, 'Seconds a request may wait for its answer to start, queueing included (past it: 408) [default: none]')
            [CompletionResult]::new('--max-queued-requests', '--max-queued-requests', [CompletionResultType]::ParameterName, 'Requests queued at most over every deployment (past it: 503), under each max_queued_requests')
            [CompletionResult]::new('--max-buffered-mb', '--max-buffered-mb', [CompletionResultType]::ParameterName, 'Request bodies held in memory at most at once, in MiB (past it: 503)')
            [CompletionResult]::new('--drain-timeout-s', '--drain-timeout-s', [CompletionResultType]::ParameterName, 'Seconds in-flight requests may take to finish after SIGTERM/SIGINT')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format')
            [CompletionResult]::new('--join', '--join', [CompletionResultType]::ParameterName, 'Join the cluster whose head''s control endpoint is here, an IP or a DNS name, looked up again at each reconnection (first time: with a token)')
            [CompletionResult]::new('--join-wait-s', '--join-wait-s', [CompletionResultType]::ParameterName, 'Seconds a first join keeps retrying while the head cannot be reached (pods of a pool start before their head)')
            [CompletionResult]::new('--node-name', '--node-name', [CompletionResultType]::ParameterName, 'This node''s id, e.g. a StatefulSet pod''s stable name [default: the state dir''s, or a new node-<hex>]')
            [CompletionResult]::new('--advertise-ip', '--advertise-ip', [CompletionResultType]::ParameterName, 'The IP other nodes reach this one at, when it binds 0.0.0.0 or [::] (e.g. a pod''s IP) [default: as the head sees it]')
            [CompletionResult]::new('--pool-token-file', '--pool-token-file', [CompletionResultType]::ParameterName, 'Head: also accept joins with this reusable pool token (a file from `rserve token create --pool`; repeatable, or comma-separated in the variable)')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Join token from `rserve token create` on the head (prefer the environment variable)')
            [CompletionResult]::new('--join-token-file', '--join-token-file', [CompletionResultType]::ParameterName, 'File holding the join token, e.g. a systemd credential (keeps it out of argv and the environment)')
            [CompletionResult]::new('--num-cpus', '--num-cpus', [CompletionResultType]::ParameterName, 'CPU cores this node offers [default: discovered]')
            [CompletionResult]::new('--num-gpus', '--num-gpus', [CompletionResultType]::ParameterName, 'GPUs this node offers [default: discovered from the NVIDIA driver]')
            [CompletionResult]::new('--memory', '--memory', [CompletionResultType]::ParameterName, 'Memory this node offers, in bytes [default: discovered]')
            [CompletionResult]::new('--label', '--label', [CompletionResultType]::ParameterName, 'A label for scheduling constraints, KEY=VALUE (repeatable, or several comma-separated; a value holds no comma)')
            [CompletionResult]::new('--node-timeout-s', '--node-timeout-s', [CompletionResultType]::ParameterName, 'Head: seconds without a heartbeat after which a node is declared dead')
            [CompletionResult]::new('--node-cert-lifetime', '--node-cert-lifetime', [CompletionResultType]::ParameterName, 'Head: how long node certificates are valid (30s, 12h, 90d); each is renewed in the last third of its life')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('--demo', '--demo', [CompletionResultType]::ParameterName, 'Deploy the bundled digits demo at /digits once the node is up')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;down' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the node to exit')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;deploy' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Application file, kubectl style (same as the positional FILE)')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Application file, kubectl style (same as the positional FILE)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds `--wait` waits')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Block until every application in the file is RUNNING (exit 3 on timeout, 1 on failure)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Check the file against the node and print what would change, changing nothing (as `rserve diff`, but exit 0)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;diff' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Application file, kubectl style (same as the positional FILE)')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Application file, kubectl style (same as the positional FILE)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;delete' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds `--wait` waits')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Block until the application''s replicas are gone (exit 3 on timeout)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;scale' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;status' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format; `wide` adds trigger, ongoing requests, nodes and replica ids; `name` prints application/NAME lines')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; `wide` adds trigger, ongoing requests, nodes and replica ids; `name` prints application/NAME lines')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Leave out the column headers (table and wide)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;config' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format; `table` prints TOML, the file format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; `table` prints TOML, the file format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;nodes' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format; `wide` adds GPU memory, version and replica ids; `name` prints node/ID lines')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; `wide` adds GPU memory, version and replica ids; `name` prints node/ID lines')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Watch: redraw on a terminal, else print one line (or JSON object) per change; reconnects after a restart')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Leave out the column headers (table and wide)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rserve;nodes;remove' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;nodes;help' {
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rserve;nodes;help;remove' {
            break
        }
        'rserve;nodes;help;help' {
            break
        }
        'rserve;logs' {
            [CompletionResult]::new('--replica', '--replica', [CompletionResultType]::ParameterName, 'Only this replica')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Only lines of this node')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only lines newer than this (30s, 10m, 2h)')
            [CompletionResult]::new('--tail', '--tail', [CompletionResultType]::ParameterName, 'Only the last N lines of each replica (and node)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format; `json` prints JSON Lines (docs/api.md)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; `json` prints JSON Lines (docs/api.md)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Follow: keep printing new lines as they are logged')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Follow: keep printing new lines as they are logged')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Start each line with its time (RFC 3339, UTC)')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Start each line with its source, [replica/ID] or [node/ID] [default: when more than one source]')
            [CompletionResult]::new('--no-prefix', '--no-prefix', [CompletionResultType]::ParameterName, 'Never prefix lines with their source')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The last lines of replicas that ended (stopped, crashed), as kubectl logs --previous')
            [CompletionResult]::new('--previous', '--previous', [CompletionResultType]::ParameterName, 'The last lines of replicas that ended (stopped, crashed), as kubectl logs --previous')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;events' {
            [CompletionResult]::new('--tail', '--tail', [CompletionResultType]::ParameterName, 'Only the last N events of the history')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format; `json` prints JSON Lines (docs/api.md)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; `json` prints JSON Lines (docs/api.md)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Follow: keep printing new events')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Follow: keep printing new events')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Leave out the column headers')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;routes' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format; `wide` adds multiplexed models')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; `wide` adds multiplexed models')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Watch: redraw on a terminal, else print the table (or a JSON object) per change')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Watch: redraw on a terminal, else print the table (or a JSON object) per change')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Leave out the column headers (table and wide)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;top' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('--readonly', '--readonly', [CompletionResultType]::ParameterName, 'Disable every key that changes the cluster (scale, delete, restart): for on-call viewers')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;tap' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Only requests entering this node')
            [CompletionResult]::new('--max-rps', '--max-rps', [CompletionResultType]::ParameterName, 'Most requests a second to print (linkerd tap''s default)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format; `json` prints JSON Lines (docs/api.md)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format; `json` prints JSON Lines (docs/api.md)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;token' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rserve;token;create' {
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'How long the token stays valid: seconds, or 30m, 12h, 365d (at most 3650d)')
            [CompletionResult]::new('--uses', '--uses', [CompletionResultType]::ParameterName, 'Nodes the token may join (then it is used up)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('--pool', '--pool', [CompletionResultType]::ParameterName, 'Make a reusable pool token here, without a node: every node of a pool joins with it until --ttl passes (the head reads it with --pool-token-file)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;token;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rserve;token;help;create' {
            break
        }
        'rserve;token;help;help' {
            break
        }
        'rserve;completion' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;generate-man' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Directory to write the pages into')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Node state directory (desired state, TLS material, admin token) [default: <data dir>/rserve]')
            [CompletionResult]::new('--address', '--address', [CompletionResultType]::ParameterName, 'Control address of the node to talk to [default: from the state dir''s node.json, else 127.0.0.1:8265]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'CA certificate (PEM) to trust [default: <state dir>/tls/ca.crt]')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Client certificate (PEM) to present; nodes take calls only over mutual TLS [default: <state dir>/tls/admin.crt, else tls/node.crt]')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'Private key (PEM) of --client-cert [default: <state dir>/tls/admin.key, else tls/node.key]')
            [CompletionResult]::new('--tls-server-name', '--tls-server-name', [CompletionResultType]::ParameterName, 'Name verified in the node''s certificate')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the admin token that deploy, delete, scale, down and token create need (beats RSERVE_TOKEN when given as a flag) [default: <state dir>/admin.token]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result and errors: no progress, no messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rserve;help' {
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Start a node in the foreground (stop it with Ctrl-C, SIGTERM or `rserve down`)')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Stop the running node gracefully')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Create or update the applications in a TOML file (idempotent; never removes others)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Show what `deploy` of a file would change, per deployment, changing nothing (exit 0: nothing, 1: something would change)')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an application')
            [CompletionResult]::new('scale', 'scale', [CompletionResultType]::ParameterValue, 'Set a deployment''s replica count, kept as if its file said num_replicas = N (not for autoscaled ones)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show applications, deployments and replicas with Ray Serve''s status names')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Print the deployed configuration')
            [CompletionResult]::new('nodes', 'nodes', [CompletionResultType]::ParameterValue, 'List the cluster''s nodes: resources, labels, alive or dead (ask the head); `nodes remove ID` removes one')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print log lines of replicas (and nodes) from across the cluster; -f follows')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Print the cluster''s event log: deploys, replicas starting, failing and stopping, nodes joining and dying')
            [CompletionResult]::new('routes', 'routes', [CompletionResultType]::ParameterValue, 'Show each deployment''s replicas with node, state, in-flight requests, rate, latency and errors, from every node''s routers')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'Interactive terminal monitor of nodes, deployments, replicas, live routing, logs and events (k9s keys; ? for help)')
            [CompletionResult]::new('tap', 'tap', [CompletionResultType]::ParameterValue, 'Print a live, rate-limited sample of requests as every node''s ingress answers them')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Manage join tokens for adding nodes to the cluster (on the head)')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('generate-man', 'generate-man', [CompletionResultType]::ParameterValue, 'Write man pages (one per command) into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rserve;help;up' {
            break
        }
        'rserve;help;down' {
            break
        }
        'rserve;help;deploy' {
            break
        }
        'rserve;help;diff' {
            break
        }
        'rserve;help;delete' {
            break
        }
        'rserve;help;scale' {
            break
        }
        'rserve;help;status' {
            break
        }
        'rserve;help;config' {
            break
        }
        'rserve;help;nodes' {
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a member for good: its replicas are placed elsewhere and its certificate is refused by every node (it may rejoin only with a new token)')
            break
        }
        'rserve;help;nodes;remove' {
            break
        }
        'rserve;help;logs' {
            break
        }
        'rserve;help;events' {
            break
        }
        'rserve;help;routes' {
            break
        }
        'rserve;help;top' {
            break
        }
        'rserve;help;tap' {
            break
        }
        'rserve;help;token' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a join token: `rserve up --join HEAD --token TOKEN` on a new node')
            break
        }
        'rserve;help;token;create' {
            break
        }
        'rserve;help;completion' {
            break
        }
        'rserve;help;generate-man' {
            break
        }
        'rserve;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
