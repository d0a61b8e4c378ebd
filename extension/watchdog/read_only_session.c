/*
 * read_only_session.c: watchdog.read_only_session, a session that no client command can make read-write.
 *
 * conmgr's read-only port sends watchdog.read_only_session = on in the startup packet of every
 * session it relays to an instance with this library loaded (shared_preload_libraries). The
 * parameter is PGC_BACKEND: it can only be given at connection start, never changed by SET,
 * set_config(), RESET or DISCARD afterwards. While it is on, the session's transactions are read
 * only in the same way as after SET TRANSACTION READ ONLY, so the server's own checks refuse every
 * write with SQLSTATE 25006 (INSERT/UPDATE/DELETE/MERGE, DDL, COPY FROM, nextval(), large
 * objects, functions and DO blocks that write):
 *
 *   - at the start of every statement (ExecutorStart and ProcessUtility hooks) and after every
 *     utility command (BEGIN READ WRITE, SET [SESSION CHARACTERISTICS ...], RESET ALL, DISCARD
 *     ALL), transaction_read_only and default_transaction_read_only are put back to on;
 *   - at the end of every transaction (a transaction callback) default_transaction_read_only is
 *     put back to on, so the next transaction starts read only even if set_config() changed it
 *     inside a query, and even if its first message is a fastpath function call (lo_write()),
 *     which passes neither hook;
 *   - the large-object functions that write (lo_creat, lo_create, lo_import, lo_unlink, lowrite,
 *     lo_truncate, lo_put, lo_from_bytea) are refused when called, by SQL or by a fastpath
 *     FunctionCall message alike (the object access hook's "function execute" event, which both
 *     paths raise after their EXECUTE privilege check): PostgreSQL 15 itself lets them through a
 *     read-only transaction, and on a hot standby fails lo_creat with XX000.
 *
 * Not covered, as with SET TRANSACTION READ ONLY: temporary tables can be written; a superuser
 * can always escape (COPY TO PROGRAM, dblink to itself, LOAD). docs/proxy.md says so.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"

#include "read_only_session.h"

static bool read_only_session = false;
static ExecutorStart_hook_type prev_executor_start = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;
static object_access_hook_type prev_object_access = NULL;

/* The large-object functions that write, and the name each is refused under. */
static const char *
large_object_write(Oid fn_oid)
{
	switch (fn_oid)
	{
		case F_LO_CREAT:
			return "lo_creat()";
		case F_LO_CREATE:
			return "lo_create()";
		case F_LO_IMPORT_TEXT:
		case F_LO_IMPORT_TEXT_OID:
			return "lo_import()";
		case F_LO_UNLINK:
			return "lo_unlink()";
		case F_LOWRITE:
			return "lowrite()";
		case F_LO_TRUNCATE:
		case F_LO_TRUNCATE64:
			return "lo_truncate()";
		case F_LO_PUT:
			return "lo_put()";
		case F_LO_FROM_BYTEA:
			return "lo_from_bytea()";
		default:
			return NULL;
	}
}

/* Puts both read-only settings back to on; the current transaction's only while one is running. */
static void
force_read_only(void)
{
	if (!read_only_session)
		return;
	DefaultXactReadOnly = true;
	if (IsTransactionState())
		XactReadOnly = true;
}

static void
assign_read_only_session(bool newval, void *extra)
{
	if (newval)
		DefaultXactReadOnly = true;
}

static void
read_only_executor_start(QueryDesc *queryDesc, int eflags)
{
	force_read_only();
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
read_only_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						  ProcessUtilityContext context, ParamListInfo params,
						  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	force_read_only();
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	force_read_only();
}

static void
read_only_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	const char *name;

	if (access == OAT_FUNCTION_EXECUTE && classId == ProcedureRelationId && read_only_session
		&& (name = large_object_write(objectId)) != NULL)
	{
		force_read_only();
		PreventCommandIfReadOnly(name);
	}
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
}

static void
read_only_xact_callback(XactEvent event, void *arg)
{
	if (read_only_session)
		DefaultXactReadOnly = true;
}

void
read_only_session_init(void)
{
	DefineCustomBoolVariable("watchdog.read_only_session",
							 "Keeps every transaction of this session read only (set by conmgr's read-only port at connection start).",
							 NULL, &read_only_session, false,
							 PGC_BACKEND, 0, NULL, assign_read_only_session, NULL);

	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = read_only_executor_start;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = read_only_process_utility;
	prev_object_access = object_access_hook;
	object_access_hook = read_only_object_access;
	RegisterXactCallback(read_only_xact_callback, NULL);
}
