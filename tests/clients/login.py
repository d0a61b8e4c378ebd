# login.py: psycopg2 logs in through a conmgr port over verified TLS with channel binding required, then prints current_user (preauth tests).
# usage: /usr/bin/python3 login.py HOST PORT USER SSLROOTCERT   (the password in PGPASSWORD)
import os
import sys

import psycopg2

host, port, user, root = sys.argv[1:5]
connection = psycopg2.connect(host=host, port=port, user=user, password=os.environ["PGPASSWORD"], dbname="postgres",
                              sslmode="verify-full", sslrootcert=root, channel_binding="require", connect_timeout=10)
with connection.cursor() as cursor:
    cursor.execute("select current_user")
    print(cursor.fetchone()[0])
connection.close()
