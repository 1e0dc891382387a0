"""Key pairs: list, create (the private key is shown once), import, delete, the one-time download."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from provisioning.exceptions import InvalidRequest, NotFound
from provisioning.selectors import keypair_list
from provisioning.services.keypairs import keypair_create, keypair_delete, keypair_get, keypair_import, pem_filename

from .. import private_keys
from ..forms import KeyPairCreateForm, KeyPairImportForm


@login_required
@require_http_methods(["GET", "POST"])
def keypairs(request: HttpRequest) -> HttpResponse:
    """List, create (private key shown once) and import key pairs."""
    create_form = KeyPairCreateForm(prefix="create")
    import_form = KeyPairImportForm(prefix="import")
    if request.method == "POST":
        which = request.POST.get("form")
        try:
            if which == "create":
                create_form = KeyPairCreateForm(request.POST, prefix="create")
                if create_form.is_valid():
                    created = keypair_create(user=request.user, **create_form.cleaned_data)
                    if not private_keys.remember(request, created.key_pair, created.private_key_pem):
                        return private_keys.show_now(request, created.key_pair, created.private_key_pem,
                                                     next_url=reverse("keypairs"), next_label="Key pairs")
                    messages.success(request, f"Key pair {created.key_pair.name} created. Save the private key "
                                              "now: Skyport does not keep it.")
                    return redirect("keypairs")
            elif which == "import":
                import_form = KeyPairImportForm(request.POST, prefix="import")
                if import_form.is_valid():
                    kp = keypair_import(user=request.user, **import_form.cleaned_data)
                    messages.success(request, f"Key pair {kp.name} imported ({kp.fingerprint}).")
                    return redirect("keypairs")
        except InvalidRequest as exc:
            target = create_form if which == "create" else import_form
            for fieldname, msgs in exc.errors.items():
                for msg in msgs:
                    target.add_error(fieldname if fieldname in target.fields else None, msg)
    context = {"section": "keypairs", "keys": list(keypair_list(user=request.user)),
               "create_form": create_form, "import_form": import_form,
               "open": request.POST.get("form", "") if request.method == "POST" else ""}
    return render(request, "web/keypairs.html", context)


@login_required
@require_POST
def keypair_remove(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        kp = keypair_get(user=request.user, ref=public_id)
        keypair_delete(user=request.user, ref=kp.public_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    private_keys.take(request, public_id)
    messages.success(request, f"Key pair {kp.name} deleted. Instances that use it keep their key.")
    return redirect("keypairs")


@login_required
@require_GET
def keypair_download(request: HttpRequest, public_id: str) -> HttpResponse:
    """The new private key as a .pem file, exactly once: it is erased on the way out (410 afterwards,
    and once it has expired)."""
    entry = private_keys.take(request, public_id)
    if entry is None:
        if keypair_list(user=request.user).filter(public_id=public_id).exists():
            return render(request, "web/key_gone.html", {"section": "keypairs"}, status=410)
        raise Http404("No such key pair.")
    response = HttpResponse(entry["pem"], content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{pem_filename(entry["name"])}"'
    response["Cache-Control"] = "no-store"
    return response
