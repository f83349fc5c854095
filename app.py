"""haoping's Lambda functions: only wiring here; handlers translate, services decide."""

from importlib import import_module

from chalice import Chalice, Cron, Rate

from chalicelib.queue_names import queue_name

# Logging is powertools' (one redacting JSON logger); chalice's own handler would write every record twice.
app = Chalice(app_name="haoping", configure_logs=False)

# Queue names are fixed per stage at deploy time (the packaged template creates them; ``chalicelib/queue_names``).
REVIEW_QUEUE = queue_name("reviews")
RECONCILE_QUEUE = queue_name("reconcile")
BACKFILL_QUEUE = queue_name("backfill")
TOKENS_QUEUE = queue_name("tokens")
BILLING_QUEUE = queue_name("billing")
PUSH_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]


def _handler(name: str):
    # Every function shares this file; each imports only the handler it runs, on its first event, so no
    # function pays at cold start for the others' dependencies.
    return import_module(f"chalicelib.handlers.{name}")


# Every route runs inside the entry-point wrappers (logger context, metrics, tracer, idempotency deadline).
@app.middleware("http")
def _observe_http(event, get_response):
    return _handler("lambda_entry").http_invocation(event, get_response)


# Chalice answers some requests itself (405, 415, a failing view's 500): they get the API's one error shape.
@app.middleware("http")
def _one_error_shape(event, get_response):
    return _handler("http").conform(get_response(event))


# -- inbound pushes -------------------------------------------------------------------------------------------
@app.route("/webhooks/marketplace", methods=["POST"], content_types=PUSH_TYPES)
def marketplace_webhook():
    return _handler("webhooks").marketplace_push(app.current_request)


@app.route("/webhooks/billing", methods=["POST"], content_types=PUSH_TYPES)
def billing_webhook():
    return _handler("billing").billing_push(app.current_request)


# -- onboarding -----------------------------------------------------------------------------------------------
@app.route("/oauth/start", methods=["GET"])
def oauth_start():
    return _handler("oauth").start(app.current_request)


@app.route("/oauth/callback", methods=["GET"])
def oauth_callback():
    return _handler("oauth").callback(app.current_request)


@app.route("/oauth/done", methods=["GET"])
def oauth_done():
    return _handler("dashboard").authorized(app.current_request)


@app.route("/login", methods=["GET"])
def login():
    return _handler("sessions").login(app.current_request)


# -- the seller's API and dashboard ---------------------------------------------------------------------------
@app.route("/api/logout", methods=["POST"])
def api_logout():
    return _handler("sessions").logout(app.current_request)


@app.route("/api/settings", methods=["GET", "PUT"])
def api_settings():
    return _handler("seller_api").settings(app.current_request)


@app.route("/api/settings/preview", methods=["POST"])
def api_settings_preview():
    return _handler("seller_api").preview(app.current_request)


@app.route("/api/tasks", methods=["GET"])
def api_tasks():
    return _handler("seller_api").list_tasks(app.current_request)


@app.route("/api/tasks/{tid}/retry", methods=["POST"])
def api_task_retry(tid):
    return _handler("seller_api").retry_task(app.current_request, tid)


@app.route("/api/tasks/{tid}/cancel", methods=["POST"])
def api_task_cancel(tid):
    return _handler("seller_api").cancel_task(app.current_request, tid)


@app.route("/api/blacklist", methods=["GET", "POST", "DELETE"])
def api_blacklist():
    return _handler("seller_api").blacklist(app.current_request)


@app.route("/api/stats", methods=["GET"])
def api_stats():
    return _handler("seller_api").stats(app.current_request)


@app.route("/api/subscription", methods=["GET"])
def api_subscription():
    return _handler("seller_api").subscription(app.current_request)


@app.route("/api/journey", methods=["GET"])
def api_journey():
    return _handler("seller_api").journey(app.current_request)


@app.route("/api/ratings", methods=["GET"])
def api_ratings():
    return _handler("seller_api").list_ratings(app.current_request)


@app.route("/api/ratings/insight", methods=["GET"])
def api_rating_insight():
    return _handler("seller_api").rating_insight(app.current_request)


@app.route("/api/ratings/{tid}/explain", methods=["POST"])
def api_rating_explain(tid):
    return _handler("seller_api").explain_rating(app.current_request, tid)


@app.route("/api/ratings/{tid}/category", methods=["PUT"])
def api_rating_category(tid):
    return _handler("seller_api").recategorize_rating(app.current_request, tid)


@app.route("/api/export/reviews.csv", methods=["GET"])
def api_export_reviews():
    return _handler("seller_api").export_reviews(app.current_request)


@app.route("/api/export/ratings.csv", methods=["GET"])
def api_export_ratings():
    return _handler("seller_api").export_ratings(app.current_request)


@app.route("/api/inbox", methods=["GET"])
def api_inbox():
    return _handler("seller_api").inbox(app.current_request)


@app.route("/api/inbox/read", methods=["POST"])
def api_inbox_read():
    return _handler("seller_api").inbox_read(app.current_request)


@app.route("/api/robots", methods=["GET", "PUT", "DELETE"])
def api_robots():
    return _handler("seller_api").robots(app.current_request)


@app.route("/api/robots/test", methods=["POST"])
def api_robot_test():
    return _handler("seller_api").robot_test(app.current_request)


@app.route("/api/log", methods=["GET"])
def api_log():
    return _handler("seller_api").audit_log(app.current_request)


@app.route("/api/export/log.csv", methods=["GET"])
def api_export_log():
    return _handler("seller_api").export_log(app.current_request)


@app.route("/api/numbers", methods=["GET"])
def api_numbers():
    return _handler("seller_api").numbers(app.current_request)


@app.route("/api/auto-review", methods=["GET"])
def api_auto_review():
    return _handler("auto_review_api").status(app.current_request)


@app.route("/api/auto-review/pause", methods=["POST"])
def api_auto_review_pause():
    return _handler("auto_review_api").pause(app.current_request)


@app.route("/api/auto-review/resume", methods=["POST"])
def api_auto_review_resume():
    return _handler("auto_review_api").resume(app.current_request)


@app.route("/api/phrases", methods=["GET"])
def api_phrases():
    return _handler("auto_review_api").phrases(app.current_request)


@app.route("/api/settings/what-if", methods=["POST"])
def api_settings_what_if():
    return _handler("auto_review_api").what_if(app.current_request)


@app.route("/api/openapi.json", methods=["GET"])
def api_openapi():
    return _handler("seller_api").openapi(app.current_request)


@app.route("/api/ratings/{tid}/extortion", methods=["POST"])
def api_rating_extortion(tid):
    return _handler("seller_api").confirm_extortion(app.current_request, tid)


@app.route("/", methods=["GET"])
def dashboard_page():
    return _handler("dashboard").page(app.current_request)


# -- schedules and queues -------------------------------------------------------------------------------------
@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep_due(event):
    return _handler("sweep").handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=REVIEW_QUEUE, batch_size=10, name="worker")
def review_worker(event):
    return _handler("worker").handle(event.to_dict(), event.context)


# Per-seller jobs: the schedule starts a run, the job's queue worker plans and serves it (services/jobs/seller_jobs).
@app.schedule(Rate(1, unit=Rate.HOURS), name="tokens")
def refresh_tokens(event):
    return _handler("tokens").handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=TOKENS_QUEUE, batch_size=5, name="tokens_worker")
def tokens_worker(event):
    return _handler("tokens").work(event.to_dict(), event.context)


@app.schedule(Cron(30, 18, "*", "*", "?", "*"), name="billing")
def billing_daily(event):
    return _handler("billing").daily(event.to_dict(), event.context)


@app.on_sqs_message(queue=BILLING_QUEUE, batch_size=5, name="billing_worker")
def billing_worker(event):
    return _handler("billing").daily_work(event.to_dict(), event.context)


@app.schedule(Cron(0, 19, "*", "*", "?", "*"), name="reconcile")
def reconcile_fanout(event):
    return _handler("reconcile").fan_out(event.to_dict(), event.context)


@app.on_sqs_message(queue=RECONCILE_QUEUE, batch_size=5, name="reconcile_worker")
def reconcile_worker(event):
    return _handler("reconcile").handle(event.to_dict(), event.context)


# The install backfills: their own queue and function, so a day of many installs never delays the daily reconcile.
@app.on_sqs_message(queue=BACKFILL_QUEUE, batch_size=5, name="backfill_worker")
def backfill_worker(event):
    return _handler("backfill").handle(event.to_dict(), event.context)


# -- any other path -------------------------------------------------------------------------------------------
# 404 in the API's error shape, for any method, up to NO_ROUTE_DEPTH segments. Without these, Chalice's local gateway
# and test client answer API Gateway's 403 text, which repeats the caller's Authorization header. Deeper paths: the
# local stack's server answers the same 404 itself (``sandbox/stack.py``); under API Gateway, paths deeper than these
# and methods a route lacks never reach the app, and the template's gateway responses shape those.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
NO_ROUTE_DEPTH = 16


def _no_route(**_path):
    return _handler("http").no_route(app.current_request)


for _depth in range(1, NO_ROUTE_DEPTH + 1):
    app.route("/" + "/".join(f"{{p{i}}}" for i in range(_depth)), methods=ANY_METHOD, name=f"no_route_{_depth}")(
        _no_route
    )
