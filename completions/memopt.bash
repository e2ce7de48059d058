# bash completion for memopt                                    -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/memopt. Needs nothing from the
# bash-completion package; tests/completion_test.sh checks it against `memopt --help`.

_memopt() {
  local cur prev words cword
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  local commands="report monitor top cleanup diagnose run recommend history postmortem"
  local global="--procfs --sysfs --model --cgroup --pid --config --help --version"
  local models="maptr petr streampetr topomlp vad"

  case $prev in
    --procfs | --sysfs)
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      return ;;
    --pid)
      mapfile -t COMPREPLY < <(compgen -W "$(cd /proc && printf '%s ' [0-9]*)" -- "$cur")
      return ;;
    --cgroup)
      return ;;  # a cgroup path (/kubepods/...) or a directory under /sys/fs/cgroup
    --config | --from-run | --timeline | --output | --protect-pidfile | --db | --html | --record)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return ;;
    --model)
      mapfile -t COMPREPLY < <(compgen -W "$models" -- "$cur")
      return ;;
    --format)
      mapfile -t COMPREPLY < <(compgen -W "text json prometheus csv" -- "$cur")
      return ;;
    --auto-cleanup)
      mapfile -t COMPREPLY < <(compgen -W "acceptable warning severe danger" -- "$cur")
      return ;;
    --top | --limit | --swap | --sample-ms | --stop-timeout | --duration | --listen | --on-alert | --timeout | --prefer | --protect-process | --since | --until)
      return ;;  # a value of the user's own
  esac

  # The subcommand: the first word that is one (values of global options are skipped).
  local command="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --procfs | --sysfs | --model | --cgroup | --pid | --config) ((i++)) ;;
      --) break ;;
      *) if [[ " $commands " == *" ${COMP_WORDS[i]} "* ]]; then command=${COMP_WORDS[i]}; break; fi ;;
    esac
  done
  # After `run ... --` come the command's own words.
  if [[ $command == run ]]; then
    for ((i = 1; i < COMP_CWORD; i++)); do
      if [[ ${COMP_WORDS[i]} == -- ]]; then
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        return
      fi
    done
  fi

  local options
  case $command in
    report) options="--format --json --top --check --containers --leaks --timeout" ;;
    monitor) options="--format --json --containers --on-alert --duration --auto-cleanup --listen --protect --dry-run --allow-host --prefer --protect-process --protect-pidfile --record" ;;
    top) options="--once --containers" ;;
    history) options="--db --since --until --format" ;;
    postmortem) options="--db --list --last --format --json --html" ;;
    cleanup) options="--dry-run --format --json --aggressive --timeout" ;;
    diagnose) options="--format --json --top" ;;
    run) options="--limit --swap --sample-ms --stop-timeout --force --format --json --timeline --output --" ;;
    recommend) options="--from-run --from-history --since --format --json" ;;
    "")
      if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$global --report --cleanup --monitor" -- "$cur")
      else
        mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
      fi
      return ;;
  esac
  mapfile -t COMPREPLY < <(compgen -W "$options $global" -- "$cur")
}
complete -F _memopt memopt
