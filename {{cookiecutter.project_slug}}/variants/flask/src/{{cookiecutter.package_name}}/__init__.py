"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}"""

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
DESCRIPTION = {{ cookiecutter.description | tojson }}
VERSION = "0.1.0"
LICENSE = {{ cookiecutter.license | tojson }}
COMMAND = {{ cookiecutter.project_slug | tojson }}  # the command line: `COMMAND migrate`, `COMMAND serve`
