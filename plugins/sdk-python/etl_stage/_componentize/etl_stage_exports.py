"""The module componentize-py takes the ``instance`` resource of the exported
``etl:stage/stage`` interface from (named by build.sh's ``--export-interface-name``)."""

from etl_stage._guest import Instance  # noqa: F401
