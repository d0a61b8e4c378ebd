/*
 * watchdog.c: the shared_preload_libraries launcher that runs cm_watchdog with the instance.
 *
 * With shared_preload_libraries = 'watchdog', the postmaster starts one background worker
 * (the launcher) at postmaster start. The launcher forks and execs cm_watchdog -D $PGDATA,
 * restarts it when it dies (at once if it had run for RESTART_AT_ONCE_AFTER_MS, else one
 * second later, so a crash loop cannot spin), and on shutdown (SIGTERM from the postmaster)
 * stops it and exits, so pg_ctl start/stop start and stop the watchdog with the instance. The
 * child gets PR_SET_PDEATHSIG, so even a kill -9 of the launcher or the postmaster does not
 * leave a watchdog behind. The library also defines the watchdog.* parameters, so the server
 * validates them at start.
 *
 * A second worker, the promotion notifier, starts when recovery finishes
 * (BgWorkerStart_RecoveryFinished): at the end of a promotion, the moment the server accepts
 * writes. It sends SIGUSR1 to the cm_watchdog named in pg_stat_tmp/watchdog.pid, which checks
 * the instance's attributes at once and pushes the new role to every conmgr, instead of
 * waiting for the next watchdog.check_attr_interval.
 *
 * Loaded this way, the library also keeps sessions started with watchdog.read_only_session = on
 * read only (read_only_session.c): conmgr's read-only port relies on it.
 */
#include "postgres.h"

#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fmgr.h"
#include "storage/fd.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "read_only_session.h"

PG_MODULE_MAGIC;

void		_PG_init(void);
PGDLLEXPORT void watchdog_launcher_main(Datum main_arg);
PGDLLEXPORT void watchdog_promotion_notifier_main(Datum main_arg);

/* A child that ran at least this long is restarted at once; one that died sooner, after 1 s. */
#define RESTART_AT_ONCE_AFTER_MS 10000

/* Written by cm_watchdog -D (its PID), removed by it at exit and by the launcher after reaping it. */
#define WATCHDOG_PID_FILE "pg_stat_tmp/watchdog.pid"

/* Parameters of the seed (2.2.1) and ConMgr's additions; all need a restart. */
static int	watchdog_port = 27545;
static int	watchdog_check_attr_interval = 1000;
static int	watchdog_max_heartbeat_connections = -1;
static int	watchdog_hello_timeout = 10000;
static int	watchdog_http_port = 0;
static char *watchdog_program = NULL;

/* Heartbeat authentication (docs/watchdog.md, "Authentication"): read by cm_watchdog at its start. */
static int	watchdog_ssl = 0;
static char *watchdog_ssl_cert_file = NULL;
static char *watchdog_ssl_key_file = NULL;
static char *watchdog_ssl_ca_file = NULL;
static char *watchdog_secret_file = NULL;
static char *watchdog_conmgr_names = NULL;
static int	watchdog_max_connections_per_address = 16;

/* Authentication lookups for conmgr's preauth (docs/preauth.md): read by cm_watchdog at its start. */
static char *watchdog_auth_lookup_roles = NULL;
static bool watchdog_auth_lookup_superuser = false;
static bool watchdog_auth_lookup_md5 = false;

static const struct config_enum_entry watchdog_ssl_options[] = {
	{"off", 0, false},
	{"on", 1, false},
	{"require", 2, false},
	{"false", 0, true},
	{"true", 1, true},
	{"no", 0, true},
	{"yes", 1, true},
	{"0", 0, true},
	{"1", 1, true},
	{NULL, 0, false}
};

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
	DefineCustomIntVariable("watchdog.http_port",
							"Port of the watchdog's HTTP health endpoints, Patroni's paths (0: off).",
							NULL, &watchdog_http_port, 0, 0, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("watchdog.ssl",
							 "TLS on heartbeat connections: off, on (TLS or plaintext), require (TLS only).",
							 NULL, &watchdog_ssl, 0, watchdog_ssl_options,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.ssl_cert_file",
							   "Certificate the watchdog presents to conmgr (empty: the server's ssl_cert_file).",
							   NULL, &watchdog_ssl_cert_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.ssl_key_file",
							   "Private key of watchdog.ssl_cert_file (empty: the server's ssl_key_file).",
							   NULL, &watchdog_ssl_key_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.ssl_ca_file",
							   "CAs whose certificates authenticate conmgr (empty or none: no client certificates; never the server's ssl_ca_file).",
							   NULL, &watchdog_ssl_ca_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.secret_file",
							   "File holding the heartbeat's shared secret (empty: heartbeat.secret in the data directory, generated at first start; none: peers are not authenticated).",
							   NULL, &watchdog_secret_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.conmgr_names",
							   "Comma-separated certificate subjects (CN or DNS name) accepted as conmgrs (empty: any certificate watchdog.ssl_ca_file signed).",
							   NULL, &watchdog_conmgr_names, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("watchdog.max_connections_per_address",
							"Heartbeat connections (in their handshake or established) one source address may hold (-1: no limit).",
							NULL, &watchdog_max_connections_per_address, 16, -1, INT_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.auth_lookup_roles",
							   "Roles whose secrets conmgr may look up over a mutual-TLS heartbeat link (comma-separated, +group allowed; empty: every non-superuser login role).",
							   NULL, &watchdog_auth_lookup_roles, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("watchdog.auth_lookup_superuser",
							 "Whether conmgr may look up the secrets of superusers.",
							 NULL, &watchdog_auth_lookup_superuser, false,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("watchdog.auth_lookup_md5",
							 "Whether conmgr may look up md5 password hashes (a login in themselves for the md5 method).",
							 NULL, &watchdog_auth_lookup_md5, false,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("watchdog.program",
							   "Path of the cm_watchdog executable (searched in PATH when it has no slash).",
							   NULL, &watchdog_program, "cm_watchdog",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
		read_only_session_init();
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

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "watchdog");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "watchdog_promotion_notifier_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "watchdog promotion notifier");
	snprintf(worker.bgw_type, BGW_MAXLEN, "watchdog promotion notifier");
	RegisterBackgroundWorker(&worker);
}

/*
 * The program to run: watchdog.program as given when it names a path; otherwise the one
 * installed beside the server's own executables (where an extension package puts it), and
 * only then a search of PATH.
 */
static const char *
resolve_program(char *buffer, size_t size)
{
	char		bindir[MAXPGPATH];

	if (strchr(watchdog_program, '/') != NULL)
		return watchdog_program;
	strlcpy(bindir, my_exec_path, sizeof(bindir));
	get_parent_directory(bindir);
	snprintf(buffer, size, "%s/%s", bindir, watchdog_program);
	if (access(buffer, X_OK) == 0)
		return buffer;
	return watchdog_program;
}

/* Fork and exec cm_watchdog; returns the child's pid, or -1. */
static pid_t
start_watchdog(void)
{
	char		path[MAXPGPATH];
	const char *program = resolve_program(path, sizeof(path));
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
		execlp(program, program, "-D", DataDir, (char *) NULL);
		fprintf(stderr, "watchdog launcher: could not execute \"%s\": %s\n", program, strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		ereport(LOG, (errmsg("watchdog launcher: could not fork: %m")));
	else
		ereport(LOG, (errmsg("watchdog launcher: started %s (PID %d)", program, (int) pid)));
	return pid;
}

/* The PID in pg_stat_tmp/watchdog.pid if it is a live cm_watchdog, else 0. */
static pid_t
read_watchdog_pid(void)
{
	FILE	   *file = AllocateFile(WATCHDOG_PID_FILE, "r");
	long		pid = 0;
	char		path[64];
	char		cmdline[MAXPGPATH];
	size_t		n;

	if (file == NULL)
		return 0;
	if (fscanf(file, "%ld", &pid) != 1 || pid <= 1 || pid > INT_MAX)
		pid = 0;
	FreeFile(file);
	if (pid == 0)
		return 0;

	/* A stale file may name a reused PID: signal only a process that is cm_watchdog. */
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	file = AllocateFile(path, "r");
	if (file == NULL)
		return 0;
	n = fread(cmdline, 1, sizeof(cmdline) - 1, file);
	FreeFile(file);
	cmdline[n] = '\0';
	return strstr(cmdline, "cm_watchdog") != NULL ? (pid_t) pid : 0;
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
	TimestampTz started_at = 0;

	pqsignal(SIGTERM, launcher_sigterm);
	BackgroundWorkerUnblockSignals();

	while (!got_sigterm)
	{
		int			status;

		if (child <= 0 && GetCurrentTimestamp() >= restart_at)
		{
			child = start_watchdog();
			started_at = GetCurrentTimestamp();
			if (child < 0)
				restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);

		if (child > 0 && waitpid(child, &status, WNOHANG) == child)
		{
			bool		at_once = TimestampDifferenceExceeds(started_at, GetCurrentTimestamp(), RESTART_AT_ONCE_AFTER_MS);

			ereport(LOG, (errmsg("watchdog launcher: cm_watchdog (PID %d) exited with status %d; restarting %s", (int) child,
								 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
								 at_once ? "now" : "in 1 s")));
			/* A killed watchdog could not remove its PID file; the notifier must not find it. */
			(void) unlink(WATCHDOG_PID_FILE);
			child = -1;
			restart_at = at_once ? 0 : TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
			continue;
		}
	}

	stop_watchdog(child);
	(void) unlink(WATCHDOG_PID_FILE);
	proc_exit(0);
}

void
watchdog_promotion_notifier_main(Datum main_arg)
{
	pid_t		pid;

	BackgroundWorkerUnblockSignals();
	pid = read_watchdog_pid();
	if (pid > 0 && kill(pid, SIGUSR1) == 0)
		ereport(LOG, (errmsg("watchdog promotion notifier: recovery finished; told cm_watchdog (PID %d)", (int) pid)));
	else
		ereport(DEBUG1, (errmsg("watchdog promotion notifier: recovery finished; no cm_watchdog to tell")));
	proc_exit(0);
}
