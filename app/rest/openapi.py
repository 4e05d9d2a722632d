"""The OpenAPI document of the BigTime-compatible staff API, built from its catalogue
(``app.rest.fields``): each field is described once, there."""

from __future__ import annotations

from functools import cache

from app.rest.fields import ADDRESS_FIELDS, CATALOGUE, BigTimeField, Type, View

_JSON: dict[Type, dict] = {
    Type.INTEGER: {"type": "integer", "format": "int32"},
    Type.NUMBER: {"type": "number"},
    Type.STRING: {"type": "string"},
    Type.BOOLEAN: {"type": "boolean"},
    Type.DATE: {"type": "string", "format": "date"},
    Type.DATETIME: {"type": "string", "format": "date-time"},
    Type.ADDRESS: {"$ref": "#/components/schemas/Address"},
    Type.UDFS: {"type": "array", "items": {"$ref": "#/components/schemas/StaffUdf"}},
}


def _schema(f: BigTimeField) -> dict:
    schema = dict(_JSON[f.type])
    if f.codes:
        schema["enum"] = [code for code, _ in f.codes]
    description = f.description + (" Required on add." if f.required else "")
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}], "description": description}
    schema["type"] = [schema["type"], "null"]
    return schema | {"description": description}


def _object(view: View, description: str) -> dict:
    fields = [f for f in CATALOGUE if view in f.views]
    schema = {
        "type": "object",
        "description": description,
        "properties": {f.name: _schema(f) for f in fields},
    }
    if view is View.UPDATE:
        schema["required"] = [f.name for f in fields if f.required]
    return schema


_SID = {"name": "sid", "in": "path", "required": True, "schema": {"type": "integer"}, "example": 1}
_ERRORS = {
    "400": {
        "description": "Validation errors, with messages.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "401": {"description": "No valid X-Auth-Token."},
    "404": {"description": "No such staffer (or not one the caller sees)."},
    "405": {"description": "The caller lacks the permission."},
}


def _ok(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


@cache
def document(prefix: str) -> dict:
    udf_list = {"type": "array", "items": _ref("StaffUdf")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Roster staff API (BigTime compatible)",
            "version": "2",
            "description": "BigTime's staff API. Field names are case-insensitive; fields not "
            "in the Update view are ignored; fields marked personal need the "
            "ViewPersonalData permit to be seen (else left out) or written (else 405).",
        },
        "servers": [{"url": prefix}],
        "security": [{"token": [], "realm": []}],
        "paths": {
            "/staff": {
                "get": {
                    "operationId": "listStaff",
                    "summary": "The staff list (Basic view).",
                    "parameters": [
                        {"name": "ShowInactive", "in": "query", "schema": {"type": "boolean"}}
                    ],
                    "responses": {
                        "200": _ok({"type": "array", "items": _ref("StaffBasic")}, "Staffers."),
                        **_ERRORS,
                    },
                }
            },
            "/staff/detail/{sid}": {
                "get": {
                    "operationId": "getStaff",
                    "summary": "One staffer, in the Basic (default) or Detailed view.",
                    "parameters": [
                        _SID,
                        {
                            "name": "View",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["Basic", "Detailed"]},
                        },
                    ],
                    "responses": {"200": _ok(_ref("StaffDetailed"), "The staffer."), **_ERRORS},
                }
            },
            "/staff/add": {
                "post": {
                    "operationId": "addStaff",
                    "summary": "Add a staffer; with inviteUser=true also invite them (ADD+INVITE).",
                    "parameters": [
                        {"name": "inviteUser", "in": "query", "schema": {"type": "boolean"}}
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("StaffUpdate")}},
                    },
                    "responses": {
                        "200": _ok(_ref("StaffDetailed"), "The new staffer."),
                        **_ERRORS,
                        "429": {"description": "Too many invitations."},
                    },
                }
            },
            "/staff/UDFList/{sid}": {
                "get": {
                    "operationId": "getStaffUdfs",
                    "summary": "A staffer's custom fields.",
                    "parameters": [_SID],
                    "responses": {"200": _ok(udf_list, "Custom fields."), **_ERRORS},
                },
                "post": {
                    "operationId": "setStaffUdfs",
                    "summary": "Set a staffer's custom fields (all or nothing).",
                    "parameters": [_SID],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("StaffUdfUpdate")}},
                    },
                    "responses": {"200": _ok(udf_list, "Custom fields now."), **_ERRORS},
                },
            },
            "/staff/UDFListByName": {
                "post": {
                    "operationId": "getUdfsByName",
                    "summary": "Custom field values of every staffer, by field name (all when "
                    "none are named).",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"type": "string"}}
                            }
                        }
                    },
                    "responses": {"200": _ok(udf_list, "Custom field values."), **_ERRORS},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                "realm": {"type": "apiKey", "in": "header", "name": "X-Auth-Realm"},
            },
            "schemas": {
                "StaffBasic": _object(View.BASIC, "A staffer, Basic view."),
                "StaffDetailed": _object(View.DETAILED, "A staffer, Detailed view."),
                "StaffUpdate": _object(View.UPDATE, "The fields a POST may set."),
                "Address": {
                    "type": "object",
                    "description": "A postal address (personal data); Id is the StaffSid.",
                    "properties": {"Id": {"type": ["integer", "null"]}}
                    | {name: {"type": ["string", "null"]} for name in ADDRESS_FIELDS},
                },
                "StaffUdf": {
                    "type": "object",
                    "properties": {
                        "Sid": {"type": "integer", "description": "The custom field's SID."},
                        "Name": {"type": "string"},
                        "Value": {"type": "string"},
                        "StaffSid": {
                            "type": "integer",
                            "description": "Whose value (UDFListByName only).",
                        },
                    },
                },
                "StaffUdfUpdate": {
                    "type": "object",
                    "required": ["UDFList"],
                    "properties": {
                        "UDFList": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["Sid", "Value"],
                                "properties": {
                                    "Sid": {"type": "integer"},
                                    "Value": {"type": ["string", "null"]},
                                },
                            },
                        }
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "Message": {"type": "string"},
                        "Errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "Field": {"type": "string"},
                                    "Message": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
