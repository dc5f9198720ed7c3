# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hcron_global_optspecs
    string join \n h/help V/version
end

function __fish_hcron_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_hcron_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_hcron_using_subcommand
    set -l cmd (__fish_hcron_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c hcron -n "__fish_hcron_needs_command" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_needs_command" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "list" -d 'List the events of a tree, with their status, type and reason'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "check" -d 'Report every event that is not accepted and what loads but will not work as written'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "run" -d 'Simulate the events of a tree over a period: nothing runs, the log shows what would'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "reload" -d 'Ask the daemon to re-read your events now'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "unload" -d 'Ask the daemon to stop scheduling your events until the next reload'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "activate" -d 'Ask the daemon to run one of your events now'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "get" -d 'Print whether you are allowed, this host\'s name, or the server name'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "info" -d 'Print the daemon\'s state, or with `hosts` every remote host\'s health'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "history" -d 'Print your jobs: when, which event, where, how they ended'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "servers" -d 'Print each scheduler server you may reach, whether it answers and how fast'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "relay" -d 'Pass one request from standard input to this host\'s daemon (run by hcron over SSH)'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "show-log" -d 'Print the activity log between two times, filtered'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "next" -d 'Print when events fire next, or why they never will'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "conv" -d 'Convert a crontab into events, or events into a crontab'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "event" -d 'Create or edit event files, check them, and reload'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "doc" -d 'Print an HTML page describing a tree'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "version" -d 'Print the version'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "completions" -d 'Print a completion script for a shell (bash, zsh, fish, ...)'
complete -c hcron -n "__fish_hcron_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hcron -n "__fish_hcron_using_subcommand list" -l events -d 'The events directory to read [default: ~/.hcron/<server_name>/events]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand list" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand list" -l show-status -d 'Prefix each name with `accepted:` or `rejected:`'
complete -c hcron -n "__fish_hcron_using_subcommand list" -l show-all -d 'Prefix each name with its status, type and reason'
complete -c hcron -n "__fish_hcron_using_subcommand list" -l next -d 'Add when each accepted event fires next (reads the tree, not the daemon)'
complete -c hcron -n "__fish_hcron_using_subcommand list" -l legacy-status -d 'The original `hcron-info -es` form: `accepted::/name`, `rejected:<reason>:/name`'
complete -c hcron -n "__fish_hcron_using_subcommand list" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand list" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand check" -l events -d 'The events directory to read [default: ~/.hcron/<server_name>/events]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand check" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand check" -l json -d 'Print a JSON document instead of text'
complete -c hcron -n "__fish_hcron_using_subcommand check" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand check" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand run" -s c -d 'Configuration file [default: the simulator\'s own]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand run" -s d -d 'Seconds to pause between simulated minutes (negative: none, as in the original)' -r
complete -c hcron -n "__fish_hcron_using_subcommand run" -l fail-events -d 'Events whose activations fail, `:`-separated absolute names' -r
complete -c hcron -n "__fish_hcron_using_subcommand run" -s h -l help -d 'Print the usage (and exit 1, as the original)'
complete -c hcron -n "__fish_hcron_using_subcommand run" -l show-event -d 'Print each activated event\'s fields'
complete -c hcron -n "__fish_hcron_using_subcommand run" -l show-email -d 'Print each notification'
complete -c hcron -n "__fish_hcron_using_subcommand run" -l show-all -d 'Both --show-event and --show-email'
complete -c hcron -n "__fish_hcron_using_subcommand run" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand reload" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand reload" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand reload" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand reload" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand unload" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand unload" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand unload" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand unload" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand activate" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand activate" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand activate" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand activate" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand get" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand get" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hcron -n "__fish_hcron_using_subcommand get" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand info" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand info" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand info" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand info" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand history" -l since -d 'Only jobs scheduled at or after this local time, `YYYY-MM-DD[THH:MM[:SS]]`' -r
complete -c hcron -n "__fish_hcron_using_subcommand history" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand history" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand history" -l json -d 'Print JSON'
complete -c hcron -n "__fish_hcron_using_subcommand history" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand history" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand servers" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand servers" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand servers" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand servers" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand relay" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand relay" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand relay" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand relay" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -s e -d 'Only entries whose event name matches this regular expression' -r
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -s f -d 'The log file [default: the configured log_path]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -l show-types -d 'Only these entry types, comma-separated' -r
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -s u -d 'Only these users, comma-separated' -r
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -l timeout -d 'Give up after this many seconds without reaching a scheduler [default: $HCRON_TIMEOUT, else 86400]' -r
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -l show-jobtree -d 'Indent chained jobs under the jobs that queued them'
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand show-log" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand next" -l count -d 'How many times to show per event' -r
complete -c hcron -n "__fish_hcron_using_subcommand next" -l events -d 'The events directory to read [default: ~/.hcron/<server_name>/events]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand next" -s c -l config -d 'Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf]' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand next" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand next" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand conv" -l mail -d 'notify_email of the generated events' -r
complete -c hcron -n "__fish_hcron_using_subcommand conv" -l remoteshell -d 'The remote shell in front of each generated command' -r
complete -c hcron -n "__fish_hcron_using_subcommand conv" -l to-events -d 'Crontab to events: `HOST CRONTAB DIR`'
complete -c hcron -n "__fish_hcron_using_subcommand conv" -l to-crontab -d 'Events to crontab: `CRONTAB DIR`'
complete -c hcron -n "__fish_hcron_using_subcommand conv" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand conv" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand event" -l config -d 'Configuration file (`-c` is the original\'s "create only")' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand event" -s c -d 'Create missing files only; do not open an editor'
complete -c hcron -n "__fish_hcron_using_subcommand event" -s y -d 'Reload without asking'
complete -c hcron -n "__fish_hcron_using_subcommand event" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand event" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand doc" -s c -d 'Configuration file (for the ignore regexp and limits)' -r -F
complete -c hcron -n "__fish_hcron_using_subcommand doc" -s e -d 'Only events whose name matches this regular expression' -r
complete -c hcron -n "__fish_hcron_using_subcommand doc" -l href-fmt -d 'Link each event name to this URL, `{}` standing for the name' -r
complete -c hcron -n "__fish_hcron_using_subcommand doc" -l toc-code -d 'HTML placed before the contents' -r
complete -c hcron -n "__fish_hcron_using_subcommand doc" -l show-empty-fields -d 'Show fields whose value is empty too'
complete -c hcron -n "__fish_hcron_using_subcommand doc" -l show-source -d 'Show each event\'s source lines'
complete -c hcron -n "__fish_hcron_using_subcommand doc" -l show-json -d 'Show each event\'s fields as JSON too'
complete -c hcron -n "__fish_hcron_using_subcommand doc" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand doc" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand version" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand version" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand completions" -s h -l help -d 'Print help'
complete -c hcron -n "__fish_hcron_using_subcommand completions" -s V -l version -d 'Print version'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "list" -d 'List the events of a tree, with their status, type and reason'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "check" -d 'Report every event that is not accepted and what loads but will not work as written'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "run" -d 'Simulate the events of a tree over a period: nothing runs, the log shows what would'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "reload" -d 'Ask the daemon to re-read your events now'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "unload" -d 'Ask the daemon to stop scheduling your events until the next reload'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "activate" -d 'Ask the daemon to run one of your events now'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "get" -d 'Print whether you are allowed, this host\'s name, or the server name'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "info" -d 'Print the daemon\'s state, or with `hosts` every remote host\'s health'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "history" -d 'Print your jobs: when, which event, where, how they ended'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "servers" -d 'Print each scheduler server you may reach, whether it answers and how fast'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "relay" -d 'Pass one request from standard input to this host\'s daemon (run by hcron over SSH)'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "show-log" -d 'Print the activity log between two times, filtered'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "next" -d 'Print when events fire next, or why they never will'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "conv" -d 'Convert a crontab into events, or events into a crontab'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "event" -d 'Create or edit event files, check them, and reload'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "doc" -d 'Print an HTML page describing a tree'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "version" -d 'Print the version'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "completions" -d 'Print a completion script for a shell (bash, zsh, fish, ...)'
complete -c hcron -n "__fish_hcron_using_subcommand help; and not __fish_seen_subcommand_from list check run reload unload activate get info history servers relay show-log next conv event doc version completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
