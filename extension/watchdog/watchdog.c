/*
 * watchdog.c: the shared_preload_libraries launcher that runs cm_watchdog with the instance.
 *
 * With shared_preload_libraries = 'watchdog', the postmaster starts one background worker
 * (the launcher) at postmaster start. The launcher forks and execs cm_watchdog -D $PGDATA,
 * restarts it one second after it dies, and on shutdown (SIGTERM from the postmaster) stops
 * it and exits, so pg_ctl start/stop start and stop the watchdog with the instance. The
 * child gets PR_SET_PDEATHSIG, so even a kill -9 of the launcher or the postmaster does not
 * leave a watchdog behind. The library also defines the watchdog.* parameters, so the server
 * validates them at start.
 */
#include "postgres.h"

#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_MODULE_MAGIC;

void		_PG_init(void);
PGDLLEXPORT void watchdog_launcher_main(Datum main_arg);

/* Parameters of the seed (2.2.1) and ConMgr's additions; all need a restart. */
static int	watchdog_port = 27545;
static int	watchdog_check_attr_interval = 1000;
static int	watchdog_max_heartbeat_connections = -1;
static int	watchdog_hello_timeout = 10000;
static char *watchdog_program = NULL;

static volatile sig_atomic_t got_sigterm = false;

static void
launcher_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

void
_PG_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("watchdog.port",
							"Port on which the watchdog accepts heartbeat connections from conmgr.",
							NULL, &watchdog_port, 27545, 1, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("watchdog.check_attr_interval",
							"Milliseconds between two checks of the instance's attributes.",
							NULL, &watchdog_check_attr_interval, 1000, 1, INT_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("watchdog.max_heartbeat_connections",
							"Maximum number of conmgr processes connected to the watchdog (-1: max_connections).",
							NULL, &watchdog_max_heartbeat_connections, -1, -1, INT_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("watchdog.hello_timeout",
							"Milliseconds a new heartbeat connection has to send its hello.",
							NULL, &watchdog_hello_timeout, 10000, 1, INT_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.program",
							   "Path of the cm_watchdog executable (searched in PATH when it has no slash).",
							   NULL, &watchdog_program, "cm_watchdog",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("watchdog");

	if (!process_shared_preload_libraries_in_progress)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_PostmasterStart;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "watchdog");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "watchdog_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "watchdog launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "watchdog launcher");
	RegisterBackgroundWorker(&worker);
}

/* Fork and exec cm_watchdog; returns the child's pid, or -1. */
static pid_t
start_watchdog(void)
{
	pid_t		pid = fork();

	if (pid == 0)
	{
		sigset_t	none;

		/* The watchdog must not outlive its launcher, whatever kills the launcher. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(1);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGUSR1, SIG_DFL);
		signal(SIGUSR2, SIG_DFL);
		execlp(watchdog_program, watchdog_program, "-D", DataDir, (char *) NULL);
		fprintf(stderr, "watchdog launcher: could not execute \"%s\": %s\n", watchdog_program, strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		ereport(LOG, (errmsg("watchdog launcher: could not fork: %m")));
	else
		ereport(LOG, (errmsg("watchdog launcher: started cm_watchdog (PID %d)", (int) pid)));
	return pid;
}

/* SIGTERM the child, give it 5 seconds, then SIGKILL; always reap it. */
static void
stop_watchdog(pid_t pid)
{
	int			i;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (i = 0; i < 50; i++)
	{
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		pg_usleep(100000L);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void
watchdog_launcher_main(Datum main_arg)
{
	pid_t		child = -1;
	TimestampTz restart_at = 0;

	pqsignal(SIGTERM, launcher_sigterm);
	BackgroundWorkerUnblockSignals();

	while (!got_sigterm)
	{
		int			status;

		if (child <= 0 && GetCurrentTimestamp() >= restart_at)
		{
			child = start_watchdog();
			if (child < 0)
				restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);

		if (child > 0 && waitpid(child, &status, WNOHANG) == child)
		{
			ereport(LOG, (errmsg("watchdog launcher: cm_watchdog (PID %d) exited with status %d; restarting in 1 s", (int) child,
								 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status))));
			child = -1;
			restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
		}
	}

	stop_watchdog(child);
	proc_exit(0);
}
