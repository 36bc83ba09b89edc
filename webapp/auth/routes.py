"""Login, logout, the home page and first-run setup."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from ..extensions import db, login_manager
from ..validators import address_key, has_control_characters
from . import first_run, throttle
from .forms import EMAIL_TAKEN, LoginForm, SetupForm
from .models import (
    LoginSession,
    User,
    dummy_password_hash,
    password_hasher,
    password_matches,
)
from .signals import announce

bp = Blueprint("auth", __name__)

BAD_LOGIN = _l("Email or password is incorrect.")
BUSY_RETRY_AFTER = 2  # seconds, when every password-check slot is taken: a check is 0.25 s


def safe_next(target):
    """``target`` when it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or has_control_characters(target) or any(c.isspace() for c in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


@login_manager.unauthorized_handler
def _to_login():
    if request.path.startswith("/api/"):
        abort(401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _verify(email, password):
    """``(user, known)``: the active user with ``email`` and ``password`` or None, and whether
    the email exists. Unknown emails are checked against a dummy hash, taking as long.

    Raises ``throttle.PasswordChecksBusy`` when no password-check slot frees up in time.
    """
    with throttle.password_check_slot() as run_check:
        # Slowed down inside the slot: a flood on one account then holds at most
        # LOGIN_HASH_CONCURRENCY server threads asleep, not all of them.
        throttle.slow_down(email)
        account = db.session.execute(
            db.select(User.id, User.password_hash, User.active).where(User.email == email)
        ).first()
        # End the read first: on SQLite a POST's transaction holds the write lock, which no
        # one should wait on while argon2 runs.
        db.session.commit()
        stored = account.password_hash if account else dummy_password_hash()
        matches = run_check(password_matches, stored, password, password_hasher())
    if account is None:
        return None, False
    return (db.session.get(User, account.id) if matches and account.active else None), True


@bp.route("/login", methods=["GET", "POST"])
@throttle.limit_failures
def login():
    """Log in with email and password."""
    next_path = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("auth.home"))
    form = LoginForm()
    if form.validate_on_submit():
        email = address_key(form.email.data)
        try:
            user, known = _verify(email, form.password.data)
        except throttle.PasswordChecksBusy:
            retry = {"Retry-After": str(BUSY_RETRY_AFTER)}
            return render_template("auth/busy.html", retry_after=BUSY_RETRY_AFTER), 503, retry
        if user is not None:
            session.clear()  # no value from before the login survives it
            token = LoginSession.start(user)
            announce("auth.login", target=user.email, actor=user)
            db.session.commit()
            login_user(user)
            session["sid"] = token
            return redirect(next_path or url_for("auth.home"))
        throttle.record_failure(email, known)
        announce("auth.login_failed", target=email, actor="anonymous")
        db.session.commit()
        form.password.errors.append(str(BAD_LOGIN))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End this session on the server, so its cookie is worthless afterwards."""
    token = session.get("sid")
    if token:
        db.session.execute(
            db.delete(LoginSession).where(LoginSession.id == LoginSession.digest(token))
        )
    announce("auth.logout", target=current_user.email)
    db.session.commit()
    logout_user()
    session.clear()
    flash(gettext("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
@login_required
def home():
    """Home page with links by role."""
    return render_template("auth/home.html")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first administrator with the one-time link; 404 for good afterwards."""
    token = request.args.get("token", "")
    if first_run.admin_exists() or not first_run.token_matches(token):
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        user = User(email=form.email.data, name=form.name.data or "", role="admin")
        user.set_password(form.password.data)
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:  # the same email was taken since the form checked it
            db.session.rollback()
            form.email.errors.append(str(EMAIL_TAKEN))
        else:
            changes = {"role": [None, "admin"]}
            announce("auth.setup", target=user.email, changes=changes, actor=user)
            db.session.commit()
            first_run.discard_token()
            flash(gettext("Administrator created. Log in to continue."), "success")
            return redirect(url_for("auth.login"))
    # A refused submission is a 400 whose page names the fields to correct.
    status = 400 if request.method == "POST" else 200
    return render_template("auth/setup.html", form=form, token=token), status
