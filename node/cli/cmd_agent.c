/* `starling agent`: runs a peer (see agent.c). */
#include "agent/agent.h"
#include "cli/commands.h"

int sl__cmd_agent(int argc, char **argv)
{
    static sl__agent_config cfg; /* large: keep it off the stack */
    int rc = sl__agent_config_parse(argc, argv, &cfg);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return rc;
    return sl__agent_run(&cfg);
}
