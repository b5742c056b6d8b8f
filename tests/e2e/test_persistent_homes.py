"""Users keep their whole home: settings, packages, environments, kernels and dotfiles survive a restart (a new
container), under a read-only root; a new home starts from the image's; a newer image never overwrites a user's
dotfiles; the server itself runs none of the packages a user installs."""

import io
import json

import pytest

from harness.compose import RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient

NEWER_IMAGE = f"appliance-e2e-newer-home:{RUN_ID}"
OTHER_HOME_IMAGE = f"appliance-e2e-other-home:{RUN_ID}"
THEME_PLUGIN = "@jupyterlab/apputils-extension:themes"
VENV_KERNEL = "course-env"

# A wheel made in the server (tests reach no package index), installed as a user installs from PyPI.
MAKE_A_WHEEL = """
import base64, hashlib, os, zipfile
def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"
files = {
    "greeting.py": b"WORDS = 'hello from the home'\\n",
    "greeting-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: greeting\\nVersion: 1.0\\n",
    "greeting-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = "\\n".join(record_line(path, data) for path, data in files.items()) + "\\ngreeting-1.0.dist-info/RECORD,,\\n"
os.makedirs(os.path.expanduser("~/wheels"), exist_ok=True)
with zipfile.ZipFile(os.path.expanduser("~/wheels/greeting-1.0-py3-none-any.whl"), "w") as wheel:
    for path, data in files.items():
        wheel.writestr(path, data)
    wheel.writestr("greeting-1.0.dist-info/RECORD", record)
"""

# `%pip install` in a notebook, as users do: it lands in ~/.local and is importable at once.
PIP_INSTALL_IN_A_NOTEBOOK = """
%pip install --quiet --no-index ~/wheels/greeting-1.0-py3-none-any.whl
import greeting
print(greeting.WORDS, greeting.__file__)
"""

# A venv of the user's own, with its own pip, and a kernel for it in ~/.local/share/jupyter. The .pth file stands in
# for `pip install ipykernel` from PyPI (unreachable here): the venv imports the image's ipykernel.
A_VENV_AND_ITS_KERNEL = f"""
import json, os, site, subprocess, sys
env = os.path.expanduser("~/envs/course")
subprocess.run([sys.executable, "-m", "venv", env], check=True)
subprocess.run([f"{{env}}/bin/pip", "install", "--quiet", "--no-index",
                os.path.expanduser("~/wheels/greeting-1.0-py3-none-any.whl")], check=True)
[env_site] = [p for p in subprocess.run([f"{{env}}/bin/python", "-c", "import site; print(site.getsitepackages()[0])"],
              capture_output=True, text=True, check=True).stdout.split()]
open(f"{{env_site}}/image-ipykernel.pth", "w").write(site.getsitepackages()[0] + "\\n")
spec = os.path.expanduser("~/.local/share/jupyter/kernels/{VENV_KERNEL}")
os.makedirs(spec, exist_ok=True)
json.dump({{"argv": [f"{{env}}/bin/python", "-m", "ipykernel_launcher", "-f", "{{connection_file}}"],
           "display_name": "Course (venv)", "language": "python"}}, open(f"{{spec}}/kernel.json", "w"))
print(os.path.exists(f"{{env_site}}/greeting.py"))
"""

# Code in ~/.local that every Python process with the user's site-packages runs at its start (usercustomize),
# saying which process it ran in.
A_USERCUSTOMIZE = """
import os, site
open(os.path.join(site.getusersitepackages(), "usercustomize.py"), "w").write(
    "import sys\\nopen('/home/jovyan/started.log', 'a').write(' '.join(sys.orig_argv[:3]) + '\\\\n')\\n"
)
"""


@pytest.fixture(scope="module")
def newer_image(docker_client):
    """The user image, as a newer release with another .bashrc would be."""
    dockerfile = f"FROM {SINGLEUSER_IMAGE}\nRUN echo '# from the newer image' >> /home/jovyan/.bashrc\n"
    docker_client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=NEWER_IMAGE, labels={TEST_RUN_LABEL: RUN_ID}, rm=True
    )
    yield NEWER_IMAGE
    docker_client.images.remove(NEWER_IMAGE, force=True)


@pytest.fixture(scope="module")
def other_home_image(docker_client):
    """An image whose user is not jovyan: rstudio, home /home/rstudio (declared in HOME, as docker-stacks and
    repo2docker images do), working in a folder of it."""
    dockerfile = (
        f"FROM {SINGLEUSER_IMAGE}\nUSER root\n"
        "RUN useradd --create-home --uid 1001 rstudio && install -d -o rstudio /home/rstudio/project\n"
        "ENV HOME=/home/rstudio\nUSER rstudio\nWORKDIR /home/rstudio/project\n"
    )
    docker_client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=OTHER_HOME_IMAGE, labels={TEST_RUN_LABEL: RUN_ID}, rm=True
    )
    yield OTHER_HOME_IMAGE
    docker_client.images.remove(OTHER_HOME_IMAGE, force=True)


@pytest.fixture(scope="module")
def stack(stack_factory, newer_image, other_home_image):
    return stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "alice,bob",
            "ALLOWED_IMAGES": f"{newer_image},{other_home_image}",
            "READ_ONLY_ROOTFS": "true",
        }
    )


@pytest.fixture(scope="module")
def alice(stack) -> HubClient:
    client = stack.client_for().login("alice", USER_PASSWORD)
    record_spawn(client.ensure_running())
    return client


def restarted(stack, client: HubClient, options: dict | None = None) -> None:
    """Stop the server (its container is removed) and start a new one."""
    [before] = stack.user_containers(client.username)
    client.stop_server()
    record_spawn(client.start_server(options))
    assert client.open_lab().status_code == 200
    [after] = stack.user_containers(client.username)
    assert after.id != before.id, "a new container"


def lab_settings(client: HubClient, method: str, **kwargs):
    """JupyterLab's settings API of the plugin users' theme choice is kept by, in ~/.jupyter/lab/user-settings."""
    url = f"{client.base_url}/user/{client.username}/lab/api/settings/{THEME_PLUGIN}"
    return client.session.request(method, url, headers={"X-XSRFToken": client.user_xsrf()}, timeout=30, **kwargs)


def theme(client: HubClient) -> str:
    response = lab_settings(client, "GET")
    response.raise_for_status()
    return json.loads(response.json()["raw"] or "{}").get("theme", "")


def set_theme(client: HubClient, name: str) -> None:
    response = lab_settings(client, "PUT", json={"raw": json.dumps({"theme": name})})
    assert response.status_code == 204, response.text


def test_a_new_home_is_the_volume_and_starts_from_the_images_home(stack, alice):
    [container] = stack.user_containers("alice")
    mounts = {mount["Destination"]: mount for mount in container.attrs["Mounts"]}
    assert mounts["/home/jovyan"]["Name"] == stack.volume_name("alice") and mounts["/home/jovyan"]["RW"]
    assert "/home/jovyan/work" not in mounts, "~/work is a folder of the home"
    printed = alice.run_once(
        "import os\nprint(os.getcwd(), *(os.path.exists(os.path.expanduser(p)) for p in ('~/.bashrc', '~/.local')))"
    )
    assert printed == "/home/jovyan/work True True"


def test_settings_packages_environments_kernels_and_dotfiles_survive_a_restart(stack, alice):
    alice.create_notebook("setup.ipynb")
    kernel = alice.start_kernel("setup.ipynb")
    try:
        kernel.run(MAKE_A_WHEEL)
        installed = kernel.run(PIP_INSTALL_IN_A_NOTEBOOK)
        assert installed.endswith("hello from the home /home/jovyan/.local/lib/python3.11/site-packages/greeting.py")
        assert kernel.run(A_VENV_AND_ITS_KERNEL) == "True", "the venv's own pip installs into the venv"
        kernel.run("open('/home/jovyan/.gitconfig', 'w').write('[user]\\n\\tname = Alice\\n')")
    finally:
        kernel.close()
    set_theme(alice, "JupyterLab Dark")

    restarted(stack, alice)

    assert theme(alice) == "JupyterLab Dark"
    assert alice.run_once(
        "import greeting\nprint(greeting.WORDS)\nprint(open('/home/jovyan/.gitconfig').read().split()[-1])"
    ).split("\n") == ["hello from the home", "Alice"]
    kernelspecs = alice.server_api("GET", "/kernelspecs").json()["kernelspecs"]
    assert kernelspecs[VENV_KERNEL]["spec"]["display_name"] == "Course (venv)", "in the launcher"
    alice.create_notebook("venv.ipynb")
    venv = alice.start_kernel("venv.ipynb", kernel_name=VENV_KERNEL)
    try:
        printed = venv.run("import sys, greeting\nprint(sys.prefix, greeting.__file__.startswith(sys.prefix))")
    finally:
        venv.close()
    assert printed == "/home/jovyan/envs/course True"


def test_a_newer_image_never_overwrites_a_users_dotfiles(stack, alice, newer_image):
    alice.run_once("open('/home/jovyan/.bashrc', 'a').write('alias ll=\"ls -l\"\\n')")
    restarted(stack, alice, {"image": newer_image})
    [container] = stack.user_containers("alice")
    assert newer_image in container.image.tags
    bashrc = alice.run_once("print(open('/home/jovyan/.bashrc').read())")
    assert 'alias ll="ls -l"' in bashrc and "# from the newer image" not in bashrc


def test_the_server_runs_none_of_the_users_packages_and_their_kernels_run_them(stack, alice):
    """A package in ~/.local cannot break the server (it starts with `python3 -s`); kernels and terminals see it."""
    alice.run_once(A_USERCUSTOMIZE, notebook="usercustomize.ipynb")
    restarted(stack, alice)
    started = alice.run_once("print(open('/home/jovyan/started.log').read())", notebook="log.ipynb").splitlines()
    assert started == ["/opt/venv/bin/python3 -m ipykernel_launcher"], "the new kernel only, not the server"


def test_an_image_with_another_users_home_gets_its_home_kept_there(stack, other_home_image):
    bob = stack.client_for().login("bob", USER_PASSWORD)
    record_spawn(bob.start_server({"image": other_home_image}))
    assert bob.open_lab().status_code == 200
    [container] = stack.user_containers("bob")
    assert {mount["Destination"]: mount["Name"] for mount in container.attrs["Mounts"]} == {
        "/home/rstudio": stack.volume_name("bob")
    }
    printed = bob.run_once("import os\nopen(os.path.expanduser('~/.Rprofile'), 'w').write('options(digits=4)')\n"
                           "print(os.getcwd())")  # fmt: skip
    assert printed == "/home/rstudio/project", "JupyterLab opens in the image's working folder"
    restarted(stack, bob, {"image": other_home_image})
    assert bob.run_once("print(open('/home/rstudio/.Rprofile').read())") == "options(digits=4)"
