/* `starling _exec PARENT_PID -- CMD ARGS...`: the internal shim through which
 * the supervisor (node/supervisor.c) spawns every replica. Not listed in
 * `starling --help`.
 *
 * uv_spawn gives no hook between fork and exec, and the death signal must be
 * asked for there, by the child itself. So the agent spawns this instead: it
 * asks for SIGKILL when its parent dies, then checks that its parent is still
 * PARENT_PID (had the agent died before the prctl, the child would already
 * have been adopted by another process and no signal would ever come), and
 * only then execs the command in its own place: same pid, same process
 * group, same file descriptors, and a death signal that survives the exec. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "commands.h"

static const char usage[] = "Usage: starling _exec PARENT_PID -- CMD [ARGS...]\n";

int sl__cmd_exec(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    char *end;
    errno = 0;
    long parent = strtol(argv[1], &end, 10);
    if (errno || end == argv[1] || *end || parent < 1) {
        fprintf(stderr, "starling: _exec: bad parent pid '%s'\n", argv[1]);
        return 2;
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        fprintf(stderr, "starling: _exec: cannot set the death signal: %s\n", strerror(errno));
        return 1;
    }
    /* After the prctl: a parent that dies from now on sends the signal, and
     * one that died before is not our parent any more. */
    if (getppid() != (pid_t)parent)
        return 1;
    execvp(argv[3], argv + 3);
    fprintf(stderr, "starling: cannot run '%s': %s\n", argv[3], strerror(errno));
    return 127;
}
