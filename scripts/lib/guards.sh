# Sourced by the shell scripts that train (POSIX sh; bash reads it too): the
# three guards a script needs that starts tools, reads their numbers and
# writes into a run folder. Sourcing it applies the first; the scripts call
# the others.
#
#   . "$(dirname "$0")/lib/guards.sh"
#   lock_folder "$out" train       # or: "train: runs/x: the run folder is in use by pid N, ..."
#   run_child "$bin/charrnn-epoch" ...     # a signal to the script reaches it
#   remove_temporary_files_in "$out"
#   part=$(temporary_name "$out/run.conf") # "$out/.run.conf.tmp.$$", removed if a signal comes

# ----------------------------------------------------------------------------- numbers
# awk, printf and sort -g read and print numbers as the locale says: under
# LC_ALL=de_DE.UTF-8, awk reads "0.97" as 0 and prints 0.5 as "0,5", and
# sort -g ranks "0.25" and "0.5" as equal. The tools read and print numbers
# with a '.', whatever the locale, so the scripts' numbers are in the C
# locale (LC_NUMERIC=C) and everything else stays the user's: UTF-8 text,
# messages, the order of names. LC_ALL would override LC_NUMERIC, so its
# value moves to the other categories first.
if [ -n "${LC_ALL:-}" ]; then
  LANG=$LC_ALL LC_CTYPE=$LC_ALL LC_COLLATE=$LC_ALL LC_MESSAGES=$LC_ALL LC_MONETARY=$LC_ALL LC_TIME=$LC_ALL
  export LANG LC_CTYPE LC_COLLATE LC_MESSAGES LC_MONETARY LC_TIME
  unset LC_ALL
fi
LC_NUMERIC=C
export LC_NUMERIC

# ----------------------------------------------------------------------------- a run folder's lock
# lock_folder DIR NAME: holds DIR/.lock until this script and every child it
# started have ended (flock(1), util-linux: the kernel drops the lock when the
# last holder of the open file ends, even by SIGKILL, so no lock is ever
# stale). Another script on the same DIR ends here with one line naming the
# pid that holds it, before it reads or writes anything in DIR. The file
# stays: removing it could let two scripts lock two different files.
lock_folder() {
  command -v flock >/dev/null 2>&1 || { echo "$2: needs flock(1) to lock $1 (Debian's util-linux)" >&2; exit 1; }
  ( : >> "$1/.lock" ) 2>/dev/null || { echo "$2: $1: cannot create the lock file $1/.lock" >&2; exit 1; }
  exec 9>> "$1/.lock"
  if ! flock -n 9; then
    holder=$(cat "$1/.lock" 2>/dev/null) || holder=
    echo "$2: $1: the run folder is in use by ${holder:+pid $holder, }another $2; wait for it to end, or give another --out" >&2
    exit 1
  fi
  echo "$$" > "$1/.lock"
}

# ----------------------------------------------------------------------------- children and signals
# A long command runs as a background child that the script waits for, since
# a shell that waits for a foreground command runs no trap until it ends:
# kill PID (TERM), Ctrl-C (INT) or a closed terminal (HUP) would end the
# script and leave the child training and writing. On any of them the script
# sends TERM to the child (a background child starts with INT ignored, and
# the charrnn tools keep it so), waits for it to end, removes its temporary
# files, and dies of the signal it got (status 128 + its number). The child's
# standard input is /dev/null, as for any background command.
child_pid=

# run_child COMMAND [ARGUMENT...]: runs COMMAND and returns its status.
run_child() {
  "$@" &
  child_pid=$!
  child_status=0
  wait "$child_pid" || child_status=$?
  child_pid=
  return "$child_status"
}

# temporary_name FILE: DIR/.BASE.tmp.PID, beside FILE and unique to this
# script (two scripts never write the same one); with remove_temporary_files_in
# DIR, such files of this script in DIR go when it ends, by a signal too.
temporary_name() {
  printf '%s/.%s.tmp.%s\n' "$(dirname "$1")" "$(basename "$1")" "$$"
}
remove_temporary_files_in() { folders_to_clean="$folders_to_clean
$1"; }
# remove_folder_at_exit DIR: DIR (a scratch folder of this script) goes when it ends.
remove_folder_at_exit() { folders_to_remove="$folders_to_remove
$1"; }
folders_to_clean= folders_to_remove=

clean_up() {
  printf '%s\n' "$folders_to_clean" | while IFS= read -r folder; do
    [ -z "$folder" ] || rm -f -- "$folder"/.*.tmp."$$"
  done
  printf '%s\n' "$folders_to_remove" | while IFS= read -r folder; do
    [ -z "$folder" ] || rm -rf -- "$folder"
  done
}

on_signal() {  # on_signal NAME NUMBER
  trap '' INT TERM HUP   # no second signal interrupts the cleanup
  if [ -n "$child_pid" ]; then
    kill -s TERM "$child_pid" 2>/dev/null || :
    wait "$child_pid" 2>/dev/null || :
  fi
  clean_up
  trap - "$1" EXIT
  kill -s "$1" "$$"
  exit $((128 + $2))   # if the signal did not end the shell
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP
trap 'clean_up' EXIT

# ----------------------------------------------------------------------------- words
# quoted WORD: WORD as one shell word in single quotes, for eval or a command line.
quoted() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
