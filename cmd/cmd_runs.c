/* moat list, logs, trace, clean: the run records under ~/.moat/runs */
#include "cmd.h"

#define NOT_YET(fn, name)			\
int						\
fn(int argc, char **argv)			\
{						\
	(void)argc;				\
	(void)argv;				\
	return cmd_not_available(name);		\
}

NOT_YET(cmd_list, "list")
NOT_YET(cmd_logs, "logs")
NOT_YET(cmd_trace, "trace")
NOT_YET(cmd_clean, "clean")
