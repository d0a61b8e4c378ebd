/* read_only_session.h: the read-only session parameter and hooks of the watchdog library. */
#ifndef WATCHDOG_READ_ONLY_SESSION_H
#define WATCHDOG_READ_ONLY_SESSION_H

/* Defines watchdog.read_only_session and installs its hooks; call from _PG_init. */
extern void read_only_session_init(void);

#endif
