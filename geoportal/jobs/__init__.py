"""The job queue in PostgreSQL (procrastinate): work done after a request, never inside it.

``enqueue`` adds a job in the caller's transaction (what the job is about and the job commit
together, or neither); ``JobWorker`` runs the jobs, inside each service process or apart
(``geoportal worker``); ``mail`` sends messages by SMTP with retries and back-off.
"""
